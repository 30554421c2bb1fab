# syntax=docker/dockerfile:1.7
# insights service image. Build from the repository root:
#   docker build -f deploy/docker/insights.Dockerfile -t feedback-platform/insights .
# Stage 1 resolves the locked dependencies (no train extra, no dev group); stage 2 is the slim runtime,
# running as an unprivileged user on a read-only root filesystem (bytecode is compiled at build time).

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM python:3.11.11-slim-bookworm AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

FROM python:3.11.11-slim-bookworm AS runtime
RUN groupadd --gid 10001 app && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app
ENV PATH=/app/.venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY shared /app/shared
COPY services/__init__.py /app/services/__init__.py
COPY services/insights /app/services/insights
RUN python -m compileall -q /app/shared /app/services
USER 10001:10001
EXPOSE 8005
CMD ["python", "-m", "uvicorn", "services.insights.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8005", "--timeout-graceful-shutdown", "20", "--no-server-header"]
