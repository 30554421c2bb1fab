"""Local infrastructure the project installs and starts itself: Apache Kafka (KRaft) and PostgreSQL.

Standard library only, so it works before the virtual environment exists. Every start and stop is
idempotent: a running node is detected by its pid file and port and left alone.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / ".local"
KAFKA_DEPLOY = ROOT / "deploy" / "local" / "kafka"
PG_VERSION = "15"


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def free_port() -> int:
    """A TCP port nothing listens on now, chosen by the kernel (tests and benchmarks start their own
    servers there, so runs side by side never collide)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check: object, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.3)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    raise RuntimeError(f"{what} did not become ready within {timeout:.0f}s{tail}")


def process_alive(pid: int) -> bool:
    """True while pid runs; reaps it first when it is our own exited child (no zombie counts)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def pid_alive(pid_file: Path) -> int | None:
    """The pid in pid_file when that process still runs, else None."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if process_alive(pid) else None


def terminate(pid_file: Path, timeout: float = 30.0) -> bool:
    """SIGTERM the process group in pid_file, SIGKILL after timeout. True if something was stopped."""
    pid = pid_alive(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not process_alive(pid):
                break
            time.sleep(0.2)
        else:
            continue
        break
    pid_file.unlink(missing_ok=True)
    return True


def run_quiet(cmd: list[str], **kwargs: object) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")


# --------------------------------------------------------------------------------------- Kafka


def ensure_kafka_jars(libs: Path = LOCAL / "kafka" / "libs") -> Path:
    """Resolve the broker jars from Maven Central (cached in ~/.m2) into libs, once per pom version."""
    pom = KAFKA_DEPLOY / "pom.xml"
    stamp = libs / ".pom-sha256"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return libs
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise RuntimeError("Kafka needs Java 17+ and Maven (apt-get install openjdk-17-jre-headless maven)")
    say("Fetching Apache Kafka jars from Maven Central (cached in ~/.m2)…")
    shutil.rmtree(libs, ignore_errors=True)
    libs.mkdir(parents=True)
    subprocess.run(
        [
            "mvn",
            "-B",
            "--no-transfer-progress",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    stamp.write_text(digest)
    return libs


@dataclass
class KafkaNode:
    """A single KRaft broker+controller whose data lives under home."""

    home: Path = LOCAL / "kafka"
    broker_port: int = int(os.environ.get("LOCAL_KAFKA_PORT", "9092"))
    controller_port: int = int(os.environ.get("LOCAL_KAFKA_CONTROLLER_PORT", "9093"))
    heap: str = "512m"
    _log_offset: int = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "kafka.log"

    def _classpath(self) -> str:
        return str(ensure_kafka_jars()) + "/*"

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            "java",
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={KAFKA_DEPLOY / 'log4j2.properties'}",
            "-cp",
            self._classpath(),
            main,
            *args,
        ]

    def _configure(self) -> Path:
        config = self.home / "server.properties"
        template = string.Template((KAFKA_DEPLOY / "server.properties.template").read_text())
        config.write_text(
            template.substitute(
                broker_port=self.broker_port,
                controller_port=self.controller_port,
                log_dir=self.home / "data",
            )
        )
        return config

    def running(self) -> bool:
        return pid_alive(self.pid_file) is not None

    def start(self) -> bool:
        """Start the broker unless it already runs; True if this call started it."""
        if self.running():
            return False
        if port_open(self.broker_port):
            raise RuntimeError(f"port {self.broker_port} is taken by another process; set LOCAL_KAFKA_PORT")
        self.home.mkdir(parents=True, exist_ok=True)
        config = self._configure()
        if not (self.home / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            say(f"Formatting Kafka storage in {self.home / 'data'}")
            run_quiet(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    # one argument: a random id may start with "-" and be taken for an option
                    f"--cluster-id={cluster_id}",
                    "-c",
                    str(config),
                )
            )
        say(f"Starting Kafka on {self.bootstrap}")
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                self._java("kafka.Kafka", str(config)),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        wait_until(lambda: self._started(proc), 120, "Kafka", self.log_file)
        return True

    def _started(self, proc: subprocess.Popen[bytes]) -> bool:
        if proc.poll() is not None:
            tail = self.log_file.read_text(errors="replace").splitlines()[-30:]
            raise RuntimeError("Kafka exited during start-up:\n" + "\n".join(tail))
        # Everything this start logged, not a tail: loading many consumer groups (a data directory
        # that ran the test suite) logs pages after "started", which a fixed tail misses.
        with self.log_file.open("rb") as log:
            log.seek(self._log_offset)
            logged = log.read().decode(errors="replace")
        return port_open(self.broker_port) and "Kafka Server started" in logged

    def stop(self) -> bool:
        stopped = terminate(self.pid_file, timeout=30)
        if stopped:
            say("Stopped Kafka")
        return stopped


# ---------------------------------------------------------------------------------- PostgreSQL


def apt_install(*packages: str) -> None:
    say(f"Installing {' '.join(packages)} from Debian packages…")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", *packages], check=True, env=env)


def pg_bin() -> Path:
    """The PostgreSQL 15 server binaries, installed from Debian packages when missing."""
    path = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
    if not (path / "initdb").exists():
        apt_install(f"postgresql-{PG_VERSION}")
    return path


def ensure_alertmanager() -> str:
    """Prometheus Alertmanager (Debian package prometheus-alertmanager), installed when missing."""
    binary = Path("/usr/bin/prometheus-alertmanager")
    if not binary.exists():
        apt_install("prometheus-alertmanager")
    return str(binary)


def ensure_prometheus() -> str:
    """Prometheus server and promtool (Debian package prometheus), installed when missing."""
    binary = Path("/usr/bin/prometheus")
    if not binary.exists() or shutil.which("promtool") is None:
        apt_install("prometheus")
    return str(binary)


def ensure_kubectl() -> str:
    """kubectl whose built-in kustomize renders the overlays (v4+: `patches`, `labels`).

    The machine image ships kubectl 1.32; elsewhere Debian's kubernetes-client is tried, whose 1.20
    kustomize is too old for the overlays, and that is said plainly instead of a confusing render error.
    """
    if shutil.which("kubectl") is None:
        apt_install("kubernetes-client")
    found = shutil.which("kubectl")
    if found is None:
        raise RuntimeError("kubectl is missing and Debian's kubernetes-client did not provide it")
    probe = subprocess.run([found, "version", "--client"], capture_output=True, text=True, check=False)
    version = probe.stdout
    match = re.search(r"Kustomize Version: v(\d+)", version)
    if match is None or int(match.group(1)) < 4:
        raise RuntimeError(f"{found} embeds kustomize older than v4 (need kubectl >= 1.21):\n{version}")
    return found


def ensure_chromium() -> str:
    """Chromium (Debian package chromium) for browser tests, installed when missing."""
    binary = Path("/usr/bin/chromium")
    if not binary.exists():
        apt_install("chromium")
    return str(binary)


def _as_postgres(cmd: list[str]) -> list[str]:
    # The server refuses to run as root; Debian's package creates the postgres account.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _reachable_by_postgres(path: Path) -> bool:
    if os.geteuid() != 0:
        return True
    path.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(_as_postgres(["test", "-x", str(path)]), check=False)
    return probe.returncode == 0


def pg_home() -> Path:
    """.local/postgres when the postgres account can reach it, else a per-checkout folder in /var/tmp."""
    home = LOCAL / "postgres"
    if _reachable_by_postgres(home):
        return home
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]
    return Path("/var/tmp") / f"feedback-platform-{digest}" / "postgres"  # noqa: S108 - fixed, root-owned parent


@dataclass(frozen=True)
class PostgresNode:
    """A private PostgreSQL cluster on loopback with a `feedback` role and database."""

    home: Path
    port: int = int(os.environ.get("LOCAL_PG_PORT", "55432"))
    user: str = "feedback"
    password: str = "feedback"  # noqa: S105 - local development cluster on loopback only
    database: str = "feedback"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def data(self) -> Path:
        return self.home / "data"

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and port_open(self.port)

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")

    def start(self) -> bool:
        """Start the cluster unless it already runs; True if this call started it."""
        if self.running():
            return False
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is taken by another process; set LOCAL_PG_PORT")
        bin_dir = pg_bin()
        self.home.mkdir(parents=True, exist_ok=True)
        self._chown(self.home)
        fresh = not (self.data / "PG_VERSION").exists()
        if fresh:
            say(f"Initialising PostgreSQL cluster in {self.data}")
            run_quiet(
                _as_postgres(
                    [
                        str(bin_dir / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        "postgres",
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                    ]
                )
            )
        say(f"Starting PostgreSQL on 127.0.0.1:{self.port}")
        log = self.home / "postgres.log"
        run_quiet(
            _as_postgres(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(log),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.home}"
                    " -c max_connections=200 -c shared_buffers=128MB -c fsync=on",
                    "start",
                ]
            )
        )
        if fresh:
            self._create_role_and_database()
        else:
            self._psql(f"ALTER ROLE {self.user} CREATEDB")  # clusters initialised before it was granted
        return True

    def _psql(self, sql: str, database: str = "postgres") -> None:
        run_quiet(
            _as_postgres(
                [
                    str(pg_bin() / "psql"),
                    "-h",
                    str(self.home),
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "-d",
                    database,
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    sql,
                ]
            )
        )

    def _create_role_and_database(self) -> None:
        # CREATEDB: benchmarks work in scratch databases of their own (benchmarks/insight.py).
        self._psql(f"CREATE ROLE {self.user} LOGIN CREATEDB PASSWORD '{self.password}'")
        self._psql(f"CREATE DATABASE {self.database} OWNER {self.user}")

    def stop(self) -> bool:
        if not (self.data / "postmaster.pid").exists():
            return False
        run_quiet(_as_postgres([str(pg_bin() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]))
        say("Stopped PostgreSQL")
        return True


def local_postgres() -> PostgresNode:
    return PostgresNode(home=pg_home())


if __name__ == "__main__":  # pragma: no cover - manual use: python scripts/infra.py start|stop
    action = sys.argv[1] if len(sys.argv) > 1 else "start"
    for node in (KafkaNode(), local_postgres()):
        getattr(node, action)()
