"""`make bench`'s closing report: every component's ratios to its same-run baseline and its checks, with
the end-to-end run's figures, in reports/bench.{md,json} (the chart is reports/bench-e2e.png).

Reads the JSON each benchmark wrote in this `make bench` run; a benchmark whose report is missing or
older than the run's start (BENCH_SINCE, epoch seconds) is listed as not run, never as passing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from benchmarks.common import REPORTS, machine, say

COMPONENTS = ("ingest", "sentiment", "alerting", "loyalty", "insight", "e2e")


def ratios_of(report: dict[str, Any]) -> dict[str, float]:
    found = dict(report.get("ratios", {}))
    found.update({k: v for k, v in report.items() if k.startswith("ratio_") and isinstance(v, int | float)})
    return found


def load(name: str, since: float) -> dict[str, Any] | None:
    path = REPORTS / f"bench-{name}.json"
    if not path.exists() or path.stat().st_mtime < since:
        return None
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def markdown(reports: dict[str, dict[str, Any] | None]) -> str:
    lines = ["| component | ratio to its same-run baseline | checks |", "| --- | --- | --- |"]
    for name, report in reports.items():
        if report is None:
            lines.append(f"| {name} | not run | — |")
            continue
        ratios = ", ".join(f"{k} {v:.3g}" for k, v in ratios_of(report).items()) or "—"
        checks = report.get("checks", {})
        verdicts = ", ".join(f"{'PASS' if ok else 'FAIL'} {k}" for k, ok in checks.items()) or "—"
        lines.append(f"| {name} | {ratios} | {verdicts} |")
    e2e = REPORTS / "bench-e2e.md"
    if reports.get("e2e") is not None and e2e.exists():
        lines += ["", "## End-to-end run", "", e2e.read_text().split("\n", 1)[1].strip()]
    return "\n".join(lines)


def main() -> None:
    since = float(os.environ.get("BENCH_SINCE", "0"))
    reports = {name: load(name, since) for name in COMPONENTS}
    REPORTS.mkdir(exist_ok=True)
    doc = {"machine": machine(), "components": {n: r for n, r in reports.items() if r is not None}}
    (REPORTS / "bench.json").write_text(json.dumps(doc, indent=2))
    text = f"# make bench\n\nMachine: {doc['machine']}\n\n{markdown(reports)}\n"
    path: Path = REPORTS / "bench.md"
    path.write_text(text)
    print(text)
    say(f"report: {path} (+ .json, bench-e2e.png)")


if __name__ == "__main__":
    main()
