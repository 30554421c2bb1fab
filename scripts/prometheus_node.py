"""A local Prometheus (Debian package) scraping the four services with the project's rules.

Its configuration is built here for `make run` and, with in-network targets, for compose.yaml, so
both scrape the same jobs and load the same rules as the cluster's ServiceMonitors.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.infra import LOCAL, ROOT, ensure_prometheus, pid_alive, port_open, say, terminate, wait_until

RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"


def prometheus_config(targets: dict[str, str], rule_files: list[str], interval_s: int = 5) -> dict[str, Any]:
    """One scrape job per service (job label = service name), with the given rule files."""
    return {
        "global": {"scrape_interval": f"{interval_s}s", "evaluation_interval": f"{interval_s}s"},
        "rule_files": rule_files,
        "scrape_configs": [
            {"job_name": name, "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}
            for name, target in targets.items()
        ],
    }


@dataclass
class PrometheusNode:
    """Prometheus on loopback with its data and generated config under home."""

    home: Path = LOCAL / "prometheus"
    port: int = int(os.environ.get("PROMETHEUS_PORT", "9090"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "prometheus.pid"

    def running(self) -> bool:
        return pid_alive(self.pid_file) is not None

    def start(self, service_ports: dict[str, int], interval_s: int = 5) -> bool:
        """Start scraping 127.0.0.1:<port> of each service; True if this call started it."""
        if self.running():
            return False
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is taken by another process; set PROMETHEUS_PORT")
        binary = ensure_prometheus()
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "prometheus.yml"
        targets = {name: f"127.0.0.1:{port}" for name, port in service_ports.items()}
        rules = [str(path) for path in sorted(RULES_DIR.glob("*.yml"))]
        # JSON is YAML: no dependency needed before the virtual environment exists.
        config.write_text(json.dumps(prometheus_config(targets, rules, interval_s), indent=2))
        log = self.home / "prometheus.log"
        say(f"Starting Prometheus on {self.url}")
        with log.open("ab") as sink:
            proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.home / 'data'}",
                    "--storage.tsdb.retention.time=2d",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        wait_until(lambda: proc.poll() is None and self._ready(), 60, "Prometheus", log)
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
            say("Stopped Prometheus")
        return stopped
