# One verb per habit. `make run` and `make test` are the whole set-up (see README.md).
PY := .venv/bin/python
STACK := $(PY) scripts/stack.py

.PHONY: model-teacher install install-train run up down status test lint fmt manifests model bench bench-ingest bench-loyalty bench-sentiment bench-alerting bench-e2e bench-insight bench-capacity

install:  ## what serving needs (no torch)
	@bash scripts/bootstrap.sh

install-train:  ## plus torch, scikit-learn, snownlp, the dev tools and chromium: tests, lint, benchmarks, model builds
	@UV_SYNC_ARGS="--extra train" BOOTSTRAP_TOOLS=dev bash scripts/bootstrap.sh

run: install  ## everything in the foreground; Ctrl-C stops it
	@$(STACK) run

up: install  ## everything in the background; returns once all services are ready
	@$(STACK) up

down:  ## stops what `make up` started
	@$(STACK) down

status:
	@$(STACK) status

test: install-train  ## the whole suite against the real broker and database (started if needed)
	@$(STACK) infra-up
	@$(PY) -m pytest $(PYTEST_ARGS)

lint: install-train
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .
	@$(PY) -m mypy

fmt: install-train
	@$(PY) -m ruff format .
	@$(PY) -m ruff check --fix .

bench-ingest: install-train  ## ingest throughput and latency against same-run baselines (reports/)
	@$(PY) -m benchmarks.ingest

bench-loyalty: install-train  ## loyalty apply rate vs naive, member lookup latency (reports/)
	@$(PY) -m benchmarks.loyalty

manifests: install  ## regenerates deploy/k8s/base, dashboards and Prometheus files from the code (tests check they are current)
	@$(PY) -m scripts.deploygen

model: install-train  ## rebuilds models/sentiment/default: e5 converted, pruned, distilled from the two committed teachers' distributions
	@$(PY) -m services.sentiment.training e5-build --teacher-labels models/sentiment/distillation/e5-teacher-labels.npz \
		--teacher-labels models/sentiment/distillation/e5-teacher-s1-labels.npz

model-teacher: install-train  ## the same, fine-tuning the two 12-layer teachers (seeds 0 and 1) first (the build's longest step)
	@$(PY) -m services.sentiment.training e5-build

bench-sentiment: install-train  ## serving path vs naive pipeline, ONNX int8 vs torch on BERT-base shape, /v1/score p95
	@$(PY) -m benchmarks.sentiment

bench-alerting: install-train  ## rule evaluation (100 rules, 1,000 groups) vs bare decode; scored → webhook p95
	@$(PY) -m benchmarks.alerting

bench-insight: install-train  ## KPI series from rollups over 5,000,000 facts vs counting the raw rows; rollup upkeep (reports/)
	@$(PY) -m benchmarks.insight

bench-e2e: install-train  ## the four services under seeded load: POST → scored, scored → webhook, lag, CPU/RSS (reports/)
	@$(STACK) infra-up
	@$(PY) -m benchmarks.e2e --rate $(or $(BENCH_RATE),100) --seconds $(or $(BENCH_SECONDS),60)

bench-capacity: install-train  ## the highest feedback rate whose POST → scored p95 stays ≤ 1 s, with each service's CPU there (reports/)
	@$(STACK) infra-up
	@$(PY) -m benchmarks.capacity --seconds $(or $(BENCH_SECONDS),30)

bench: install-train  ## every benchmark one after another, then reports/bench.md (ratios, checks, e2e figures and chart)
	@mkdir -p reports && echo "BENCH_SINCE=$$(date +%s)" > reports/.bench-since
	@$(MAKE) --no-print-directory bench-ingest bench-sentiment bench-alerting bench-loyalty bench-insight bench-e2e bench-capacity
	@env $$(cat reports/.bench-since) $(PY) -m benchmarks.summary
