"""One Dockerfile per service: multi-stage, pinned bases, non-root, the service's own port and module,
and the default model baked into the sentiment image. Docker is not available here, so the files are
checked for what a build would rely on."""

from __future__ import annotations

import re

import pytest

from scripts.deploygen.catalog import ROOT, SERVICES, UVICORN_GRACE_S


def instructions(text: str) -> list[tuple[str, str]]:
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


@pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.name)
def test_each_service_image_is_multi_stage_pinned_and_non_root(svc):
    dockerfile = ROOT / "deploy" / "docker" / f"{svc.name}.Dockerfile"
    steps = instructions(dockerfile.read_text())
    bases = [arg.split()[0] for op, arg in steps if op == "FROM"]
    assert len(bases) >= 3, "uv, build and runtime stages"
    for base in bases:
        assert re.search(r":\d+\.\d+\.\d+", base), f"{base} is pinned to an exact version"
    assert "slim" in bases[-1]
    users = [arg for op, arg in steps if op == "USER"]
    assert users
    assert users[-1].split(":")[0].isdigit()
    assert int(users[-1].split(":")[0]) > 0
    assert [arg for op, arg in steps if op == "EXPOSE"] == [str(svc.port)]
    (cmd,) = [arg for op, arg in steps if op == "CMD"]
    assert f'"services.{svc.name}.app:create_app"' in cmd
    assert f'"--port", "{svc.port}"' in cmd
    assert f'"--timeout-graceful-shutdown", "{UVICORN_GRACE_S}"' in cmd
    assert any("uv sync --frozen --no-dev" in arg for op, arg in steps if op == "RUN")
    for op, arg in steps:
        if op == "COPY" and "--from=" not in arg:
            source = arg.split()[-2]
            assert (ROOT / source).exists(), f"{dockerfile.name}: COPY {source} names a repository path"
    copied = " ".join(arg for op, arg in steps if op == "COPY")
    assert f"services/{svc.name} " in copied
    assert "shared " in copied
    others = [other.name for other in SERVICES if other.name != svc.name]
    assert not any(f"services/{other}" in copied for other in others), "services never ship each other"
    bakes_model = "models/sentiment/default" in copied
    assert bakes_model == (svc.name == "sentiment")


def test_the_sentiment_image_and_the_wheel_leave_the_training_pipeline_out():
    import tomllib

    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "services/sentiment/training" in ignored, "the image copies services/sentiment without it"
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert "services/sentiment/training" in wheel["exclude"]
    serving = [p for p in (ROOT / "services" / "sentiment").glob("*.py")]
    for module in serving:
        text = module.read_text()
        for line in text.splitlines():
            if line.startswith(("from services.sentiment.training", "import services.sentiment.training")):
                raise AssertionError(f"{module.name} imports the training pipeline at module level: {line}")
