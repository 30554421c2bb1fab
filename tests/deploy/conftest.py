"""Rendered overlays, shared by the manifest tests: `kubectl kustomize` runs once per overlay per session."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from scripts.deploygen.catalog import ROOT
from scripts.infra import ensure_kubectl

OVERLAYS = ("dev", "prod")
Rendered = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="session")
def rendered() -> Rendered:
    kubectl = ensure_kubectl()
    out: Rendered = {}
    for overlay in OVERLAYS:
        result = subprocess.run(
            [kubectl, "kustomize", str(ROOT / "deploy" / "k8s" / "overlays" / overlay)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "Warning" not in result.stderr, result.stderr
        out[overlay] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}
