"""A local Prometheus and Alertmanager (Debian packages): Prometheus scrapes the four services with the
project's rules and sends what fires to the Alertmanager, which the alerting service also reaches for its
L3/L4 escalations.

Prometheus's configuration is built here for `make run` and, with in-network targets, for compose.yaml,
so both scrape the same jobs and load the same rules as the cluster's ServiceMonitors.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from scripts.infra import (
    LOCAL,
    ROOT,
    ensure_alertmanager,
    ensure_prometheus,
    pid_alive,
    port_open,
    say,
    terminate,
    wait_until,
)

RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"


def prometheus_config(
    targets: dict[str, str], rule_files: list[str], interval_s: int = 5, alertmanagers: Sequence[str] = ()
) -> dict[str, Any]:
    """One scrape job per service (job label = service name), with the given rule files; alerts go to
    the alertmanagers (host:port) when any is given."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": f"{interval_s}s", "evaluation_interval": f"{interval_s}s"},
        "rule_files": rule_files,
        "scrape_configs": [
            {"job_name": name, "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}
            for name, target in targets.items()
        ],
    }
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
    return config


def alertmanager_config() -> dict[str, Any]:
    """The local default: every alert grouped by name and kept (web UI, API, amtool) by a receiver with
    no integration; ALERTMANAGER_CONFIG names a file of one's own (e-mail, PagerDuty, WeCom webhooks)."""
    return {
        "route": {
            "receiver": "local",
            "group_by": ["alertname"],
            "group_wait": "10s",
            "group_interval": "1m",
            "repeat_interval": "4h",
        },
        "receivers": [{"name": "local"}],
    }


@dataclass
class _Daemon:
    """A loopback server of a Debian package, its pid, log and data under home, ready at /-/ready."""

    home: Path
    port: int
    name: ClassVar[str]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.name.lower()}.pid"

    def running(self) -> bool:
        return pid_alive(self.pid_file) is not None

    def _launch(self, binary: str, config: Path, *flags: str) -> None:
        """Run binary with its configuration file, listening on address, and flags of its own."""
        argv = [binary, f"--config.file={config}", f"--web.listen-address={self.address}", *flags]
        log = self.home / f"{self.name.lower()}.log"
        say(f"Starting {self.name} on {self.url}")
        with log.open("ab") as sink:
            proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid_file.write_text(str(proc.pid))
        wait_until(lambda: proc.poll() is None and self._ready(), 60, self.name, log)

    def _free(self) -> bool:
        """False when already running; raises when another process holds the port."""
        if self.running():
            return False
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is taken by another process; set {self.name.upper()}_PORT")
        self.home.mkdir(parents=True, exist_ok=True)
        return True

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> bool:
        stopped = terminate(self.pid_file, timeout=20)
        if stopped:
            say(f"Stopped {self.name}")
        return stopped


@dataclass
class AlertmanagerNode(_Daemon):
    """Alertmanager on loopback, without clustering (a single node has no peers to gossip with)."""

    name = "Alertmanager"
    home: Path = LOCAL / "alertmanager"
    port: int = int(os.environ.get("ALERTMANAGER_PORT", "9095"))

    def start(self) -> bool:
        """True if this call started it."""
        if not self._free():
            return False
        binary = ensure_alertmanager()
        config = Path(os.environ["ALERTMANAGER_CONFIG"]) if "ALERTMANAGER_CONFIG" in os.environ else None
        if config is None:
            config = self.home / "alertmanager.yml"
            config.write_text(json.dumps(alertmanager_config(), indent=2))  # JSON is YAML
        self._launch(binary, config, f"--storage.path={self.home / 'data'}", "--cluster.listen-address=")
        return True


@dataclass
class PrometheusNode(_Daemon):
    """Prometheus on loopback with its data and generated config under home."""

    name = "Prometheus"
    home: Path = LOCAL / "prometheus"
    port: int = int(os.environ.get("PROMETHEUS_PORT", "9090"))

    def start(
        self, service_ports: dict[str, int], interval_s: int = 5, alertmanagers: Sequence[str] = ()
    ) -> bool:
        """Start scraping 127.0.0.1:<port> of each service; True if this call started it."""
        if not self._free():
            return False
        binary = ensure_prometheus()
        config = self.home / "prometheus.yml"
        targets = {name: f"127.0.0.1:{port}" for name, port in service_ports.items()}
        rules = [str(path) for path in sorted(RULES_DIR.glob("*.yml"))]
        # JSON is YAML: no dependency needed before the virtual environment exists.
        config.write_text(json.dumps(prometheus_config(targets, rules, interval_s, alertmanagers), indent=2))
        self._launch(
            binary,
            config,
            f"--storage.tsdb.path={self.home / 'data'}",
            "--storage.tsdb.retention.time=2d",
            "--web.enable-lifecycle",
        )
        return True
