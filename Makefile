# One verb per habit. `make run` and `make test` are the whole set-up (see README.md).
PY := .venv/bin/python
STACK := $(PY) scripts/stack.py

.PHONY: install run up down status test lint fmt bench bench-ingest bench-loyalty

install:
	@bash scripts/bootstrap.sh

run: install  ## everything in the foreground; Ctrl-C stops it
	@$(STACK) run

up: install  ## everything in the background; returns once all services are ready
	@$(STACK) up

down:  ## stops what `make up` started
	@$(STACK) down

status:
	@$(STACK) status

test: install  ## the whole suite against the real broker and database (started if needed)
	@$(STACK) infra-up
	@$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .
	@$(PY) -m mypy

fmt: install
	@$(PY) -m ruff format .
	@$(PY) -m ruff check --fix .

bench-ingest: install  ## ingest throughput and latency against same-run baselines (reports/)
	@$(PY) -m benchmarks.ingest

bench-loyalty: install  ## loyalty apply rate vs naive, member lookup latency (reports/)
	@$(PY) -m benchmarks.loyalty
