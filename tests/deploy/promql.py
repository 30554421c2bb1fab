"""Metric names in PromQL expressions and in Prometheus text exposition, for the "no panel on a metric
that does not exist" check (tests/integration/test_stack.py)."""

from __future__ import annotations

import json
import re

import yaml

from scripts.deploygen.catalog import ROOT
from scripts.prometheus_node import RULES_DIR

KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
BUILT_IN = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"}
"""Series Prometheus makes itself."""


def metric_names(expr: str) -> set[str]:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values and regexes
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)(\s*\()?", expr):
        name, is_call = match.groups()
        if not is_call and name not in KEYWORDS:
            names.add(name)
    return names


def exported_names(exposition: str) -> set[str]:
    """Every series name a /metrics page can produce, labelled families without samples yet included."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            suffixes = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}
            names |= {name + suffix for suffix in suffixes.get(kind, ("",))}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def rule_groups() -> list[dict[str, object]]:
    groups = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        groups += yaml.safe_load(path.read_text())["groups"]
    return groups


def rule_expressions() -> dict[str, str]:
    """Rule name → expression, for every recording and alerting rule."""
    return {
        str(rule.get("record") or rule.get("alert")): str(rule["expr"])
        for group in rule_groups()
        for rule in group["rules"]  # type: ignore[attr-defined]
    }


def recorded_names() -> set[str]:
    return {str(rule["record"]) for group in rule_groups() for rule in group["rules"] if "record" in rule}  # type: ignore[attr-defined]


def dashboard_expressions() -> dict[str, str]:
    """ "dashboard / panel [refId]" → expression, for every panel target."""
    out = {}
    for path in sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                out[f"{board['uid']} / {panel['title']} [{target['refId']}]"] = target["expr"]
    return out
