"""The whole local system: infrastructure, topics, migrations and the five services.

    python scripts/stack.py infra-up | infra-down | up | down | run | status

`run` stays in the foreground and stops on Ctrl-C whatever it started; `up` returns once every
service is ready and `down` stops everything. KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, when set,
point at existing infrastructure and no local copy is started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.infra import (
    LOCAL,
    ROOT,
    KafkaNode,
    local_postgres,
    pid_alive,
    say,
    terminate,
    wait_until,
)
from scripts.mailcatcher import MailCatcherNode
from scripts.prometheus_node import AlertmanagerNode, PrometheusNode
from shared.settings import DEV_INGEST_KEY, DEV_LOYALTY_KEY, DEV_OPERATOR_KEY

SERVICES = {"ingest": 8001, "sentiment": 8002, "alerting": 8003, "loyalty": 8004, "insights": 8005}
RUN_DIR = LOCAL / "run"
LOG_DIR = LOCAL / "logs"
STARTED_FILE = RUN_DIR / "started-infra.json"
DEV_KEYS = (
    ("OPERATOR_API_KEY", DEV_OPERATOR_KEY, "operator: operator endpoints of every service, console sign-in"),
    ("INGEST_API_KEYS", DEV_INGEST_KEY, "ingest client `demo`: POST feedback and events"),
    ("LOYALTY_API_KEYS", DEV_LOYALTY_KEY, "loyalty read-only client `console`: member summaries, ledgers"),
)
"""(variable, development key, use): what a local stack accepts where the environment sets no key."""


def service_port(name: str) -> int:
    return int(os.environ.get(f"{name.upper()}_PORT", SERVICES[name]))


def infra_env() -> dict[str, str]:
    """The environment every child process gets: where Kafka and PostgreSQL are."""
    env = dict(os.environ)
    env.setdefault("KAFKA_BOOTSTRAP_SERVERS", KafkaNode().bootstrap)
    env.setdefault("DATABASE_URL", local_postgres().url)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def infra_up(started: list[str] | None = None) -> list[str]:
    """Start what is not configured externally, create topics, migrate.

    Appends what it started to `started` as it goes, so an interrupted start can be undone.
    """
    started = [] if started is None else started
    kafka, postgres = KafkaNode(), local_postgres()
    if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ and not kafka.running():
        started.append("kafka")
        kafka.start()
    if "DATABASE_URL" not in os.environ and not postgres.running():
        started.append("postgres")
        postgres.start()
    env = infra_env()
    say("Creating Kafka topics from the registry")
    subprocess.run([sys.executable, "-m", "shared.kafka.admin"], check=True, env=env, cwd=ROOT)
    say("Running database migrations")
    subprocess.run([sys.executable, "-m", "shared.db.migrate"], check=True, env=env, cwd=ROOT)
    return started


def infra_down(only: list[str] | None = None) -> None:
    if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ and (only is None or "kafka" in only):
        KafkaNode().stop()
    if "DATABASE_URL" not in os.environ and (only is None or "postgres" in only):
        local_postgres().stop()


def _service_cmd(name: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        f"services.{name}.app:create_app",
        "--factory",
        "--host",
        os.environ.get("SERVICE_HOST", "127.0.0.1"),
        "--port",
        str(service_port(name)),
        "--timeout-graceful-shutdown",
        "20",
        "--no-server-header",
    ]


def _ready(name: str) -> bool:
    url = f"http://127.0.0.1:{service_port(name)}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _pump(stream: IO[bytes], name: str, log: Path) -> None:
    with log.open("ab") as sink:
        for line in stream:
            sink.write(line)
            sink.flush()
            sys.stdout.write(f"{name:>9} | {line.decode(errors='replace')}")
            sys.stdout.flush()


def start_services(foreground: bool) -> dict[str, subprocess.Popen[bytes]]:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    env = infra_env()
    procs = {}
    for name in SERVICES:
        pid_file = RUN_DIR / f"{name}.pid"
        if pid_alive(pid_file):
            say(f"{name} already running")
            continue
        log = LOG_DIR / f"{name}.log"
        if foreground:
            proc = subprocess.Popen(
                _service_cmd(name),
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            assert proc.stdout is not None
            threading.Thread(target=_pump, args=(proc.stdout, name, log), daemon=True).start()
        else:
            with log.open("ab") as sink:
                proc = subprocess.Popen(
                    _service_cmd(name),
                    env=env,
                    cwd=ROOT,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        pid_file.write_text(str(proc.pid))
        procs[name] = proc
    for name in SERVICES:
        wait_until(lambda n=name: _ready(n), 90, f"service {name}", LOG_DIR / f"{name}.log")
    return procs


def stop_services() -> None:
    for name in SERVICES:
        if terminate(RUN_DIR / f"{name}.pid", timeout=25):
            say(f"Stopped {name}")


def print_endpoints() -> None:
    say("The platform is up:")
    for name in SERVICES:
        base = f"http://127.0.0.1:{service_port(name)}"
        print(f"    {name:<10} {base}   (API docs {base}/docs, metrics {base}/metrics)")
    insights = f"http://127.0.0.1:{service_port('insights')}"
    print(f"    KPIs       {insights}/v1/kpis?metric=nps&group_by=business_line   (operator key)")
    print(f"    console    http://127.0.0.1:{service_port('alerting')}/console   (alerts, on call, Insights)")
    env = infra_env()
    print(f"    kafka      {env['KAFKA_BOOTSTRAP_SERVERS']}")
    print(f"    postgres   {env['DATABASE_URL'].replace(':feedback@', ':***@')}")
    print(f"    prometheus {PrometheusNode().url}   (targets {PrometheusNode().url}/targets)")
    print(f"    alertmanager {AlertmanagerNode().url}   (platform alerts and L3/L4 escalations)")
    if MailCatcherNode().running():
        print(f"    mail       {MailCatcherNode().url}   (pages e-mailed to the rules file's contacts)")
    print(f"    logs       {LOG_DIR}")
    keys = [(key, use) for variable, key, use in DEV_KEYS if variable not in os.environ]
    if keys:
        print("    keys       (X-API-Key; development keys, refused under APP_ENV=production)")
        for key, use in keys:
            print(f"      {key:<18} {use}")


def up(foreground: bool = False) -> dict[str, subprocess.Popen[bytes]]:
    started: list[str] = []
    try:
        infra_up(started)
    finally:
        previous = json.loads(STARTED_FILE.read_text()) if STARTED_FILE.exists() else []
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        STARTED_FILE.write_text(json.dumps(sorted(set(previous) | set(started))))
    alertmanager = AlertmanagerNode()
    alertmanager.start()
    # The alerting service's SSRF guard refuses loopback unless allowed: allowed here, on a local stack.
    os.environ.setdefault("ALERTING_ALERTMANAGER_URL", alertmanager.url)
    os.environ.setdefault("ALERTING_WEBHOOK_ALLOW", json.dumps(["127.0.0.1"]))
    # Pages by e-mail go to the local catcher unless the environment names a relay.
    if "ALERTING_SMTP_HOST" not in os.environ:
        catcher = MailCatcherNode()
        catcher.start()
        os.environ["ALERTING_SMTP_HOST"] = "127.0.0.1"
        os.environ["ALERTING_SMTP_PORT"] = str(catcher.smtp_port)
    say("Starting services")
    procs = start_services(foreground)
    ports = {name: service_port(name) for name in SERVICES}
    PrometheusNode().start(ports, alertmanagers=[alertmanager.address])
    print_endpoints()
    return procs


def down(only_started: bool = False) -> None:
    """Stop the services and the local infrastructure (external infrastructure is never touched).

    With only_started, infrastructure that was already running before `up` is left alone.
    """
    stop_services()
    PrometheusNode().stop()
    AlertmanagerNode().stop()
    MailCatcherNode().stop()
    started = json.loads(STARTED_FILE.read_text()) if STARTED_FILE.exists() else []
    infra_down(started if only_started else None)
    STARTED_FILE.unlink(missing_ok=True)


def run() -> None:
    """Foreground: everything up, logs streamed; Ctrl-C (or SIGTERM) stops everything started."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        procs = up(foreground=True)
        say("Press Ctrl-C to stop everything")
        while all(proc.poll() is None for proc in procs.values()):
            time.sleep(0.5)
        dead = [name for name, proc in procs.items() if proc.poll() is not None]
        say(f"service(s) exited: {', '.join(dead)}; stopping")
    except KeyboardInterrupt:
        print()
        say("Stopping…")
    finally:
        down(only_started=True)


def status() -> None:
    print(f"kafka      {'running' if KafkaNode().running() else 'stopped'}")
    print(f"postgres   {'running' if local_postgres().running() else 'stopped'}")
    print(f"prometheus {'running' if PrometheusNode().running() else 'stopped'}")
    print(f"alertmanager {'running' if AlertmanagerNode().running() else 'stopped'}")
    print(f"mail       {'running' if MailCatcherNode().running() else 'stopped'}")
    for name in SERVICES:
        state = "ready" if _ready(name) else ("running" if pid_alive(RUN_DIR / f"{name}.pid") else "stopped")
        print(f"{name:<10} {state}")


COMMANDS = {
    "infra-up": lambda: infra_up() and None,
    "infra-down": infra_down,
    "up": lambda: up() and None,
    "down": down,
    "run": run,
    "status": status,
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        raise SystemExit(f"usage: stack.py {{{'|'.join(COMMANDS)}}}")
    COMMANDS[sys.argv[1]]()
