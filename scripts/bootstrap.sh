#!/usr/bin/env bash
# Installs whatever is missing on a fresh machine: uv, the locked Python dependencies,
# Java + Maven (for the Kafka jars), the Kafka jars themselves and PostgreSQL 15.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_install() {
  say "Installing $* from Debian packages…"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  apt_install openjdk-17-jre-headless maven
fi
if ! command -v runuser >/dev/null; then apt_install util-linux; fi

if ! command -v uv >/dev/null && ! python3 -m uv --version >/dev/null 2>&1; then
  say "Installing uv from PyPI…"
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
UV="uv"; command -v uv >/dev/null || UV="python3 -m uv"

# Serving needs neither torch nor the dev tools: `make run` syncs the base set only, without removing
# what is there (--inexact, so a developer's test tools stay); tests, lint, benchmarks and model builds
# ask for the 'train' extra (torch, scikit-learn, snownlp) and the dev group (pytest, playwright, mypy…).
say "Syncing Python dependencies (uv.lock)…"
$UV sync --frozen --python 3.11 ${UV_SYNC_ARGS:---inexact --no-dev}

.venv/bin/python - <<'PY'
from scripts.infra import ensure_alertmanager, ensure_kafka_jars, ensure_prometheus, pg_bin
ensure_kafka_jars()
pg_bin()
ensure_alertmanager()
ensure_prometheus()
PY
# The browser (console tests) and kubectl (manifest tests) only serve the test suite.
if [ "${BOOTSTRAP_TOOLS:-}" = "dev" ]; then
  .venv/bin/python -c 'from scripts.infra import ensure_chromium, ensure_kubectl; ensure_chromium(); ensure_kubectl()'
fi
