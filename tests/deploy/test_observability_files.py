"""Prometheus rules pass promtool (syntax and unit tests), the local configuration is valid, and the
Grafana dashboards are well-formed and point at the provisioned datasource."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from scripts.deploygen.catalog import ROOT
from scripts.infra import ensure_alertmanager, ensure_prometheus
from scripts.prometheus_node import RULES_DIR, alertmanager_config, prometheus_config
from tests.deploy.promql import dashboard_expressions, exported_names, metric_names, rule_expressions

PROM = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    ensure_prometheus()
    return subprocess.run(["promtool", *args], capture_output=True, text=True, check=False, cwd=cwd)


def test_promtool_accepts_every_rules_file_and_counts_every_rule():
    files = sorted(RULES_DIR.glob("*.yml"))
    assert files
    result = promtool("check", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr
    for path in files:
        rules = sum(len(group["rules"]) for group in yaml.safe_load(path.read_text())["groups"])
        assert f"SUCCESS: {rules} rules found" in result.stdout


def test_promtool_refuses_a_broken_rule(tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: rate(x[5m]\n")
    assert promtool("check", "rules", str(broken)).returncode != 0


def test_alerts_fire_on_their_series_in_promtool_unit_tests():
    tests = sorted((PROM / "tests").glob("*.yml"))
    assert tests
    result = promtool("test", "rules", *(path.name for path in tests), cwd=PROM / "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_local_prometheus_configuration_is_valid(tmp_path: Path):
    rules = [str(p) for p in RULES_DIR.glob("*.yml")]
    config = prometheus_config({"ingest": "127.0.0.1:8001"}, rules, alertmanagers=["127.0.0.1:9095"])
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))
    result = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "alertmanager" not in prometheus_config({"ingest": "127.0.0.1:8001"}, rules)


def test_the_local_alertmanager_configuration_is_valid(tmp_path: Path):
    ensure_alertmanager()

    def check(config: dict[str, object]) -> subprocess.CompletedProcess[str]:
        (tmp_path / "alertmanager.yml").write_text(json.dumps(config))
        command = ["amtool", "check-config", str(tmp_path / "alertmanager.yml")]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    result = check(alertmanager_config())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert check({"route": {"receiver": "nobody"}, "receivers": []}).returncode != 0


def test_dashboards_query_the_provisioned_datasource():
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    uid = datasources["datasources"][0]["uid"]
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "feedback.yaml").read_text())
    assert provider["providers"][0]["options"]["path"].endswith("/feedback")
    dashboards = sorted((GRAFANA / "dashboards").glob("*.json"))
    assert len(dashboards) >= 5
    uids = set()
    for path in dashboards:
        board = json.loads(path.read_text())
        uids.add(board["uid"])
        assert board["panels"], path.name
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids are unique"
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == uid
            assert panel["targets"]
            assert all(target["expr"].strip() for target in panel["targets"])
    assert len(uids) == len(dashboards)


def test_metric_names_are_read_out_of_promql_without_functions_labels_or_keywords():
    expr = (
        'sum by (business_line) (rate(sentiment_stars_sum{business_line=~"re.*"}[$__rate_interval]))'
        " / clamp_min(sum(rate(sentiment_stars_count[5m] offset 1h)), 1e-9) > bool 0.5 and on (job) up"
    )
    assert metric_names(expr) == {"sentiment_stars_sum", "sentiment_stars_count", "up"}
    exposition = "# HELP a_seconds x\n# TYPE a_seconds histogram\n# TYPE b_total counter\nc_info 1.0\n"
    assert exported_names(exposition) == {
        "a_seconds_bucket",
        "a_seconds_sum",
        "a_seconds_count",
        "b_total",
        "c_info",
    }


def test_every_dashboard_and_rule_names_some_metric():
    for where, expr in {**dashboard_expressions(), **rule_expressions()}.items():
        assert metric_names(expr), where
