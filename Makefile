.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
export TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PIP_COMPILE := $(PY) -m piptools compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links

.PHONY: help run test lint types check-migrations schema pytest pytest-sqlite pytest-services fmt bench lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(VENV)/.runtime: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	touch $@

$(VENV)/.dev: requirements-dev.lock $(VENV)/.runtime
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

run: $(VENV)/.runtime  ## install, migrate and serve on http://$HOST:$PORT (SQLite under var/ by default)
	$(PY) manage.py migrate --no-input
	$(PY) manage.py collectstatic --no-input --verbosity 0
	exec $(PY) manage.py serve

test: lint types check-migrations schema pytest  ## every check: lint, types, migrations drift, schema, tests

lint: $(VENV)/.dev  ## ruff (lint and format check)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: $(VENV)/.dev  ## mypy with the Django and DRF stubs
	$(VENV)/bin/mypy .

check-migrations: $(VENV)/.dev  ## fail if models and migrations drifted apart
	$(PY) manage.py makemigrations --check --dry-run

schema: $(VENV)/.dev  ## generate and validate the OpenAPI document; warnings fail
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

pytest: pytest-sqlite pytest-services  ## the test suite on SQLite, then again on PostgreSQL and Redis

pytest-sqlite: $(VENV)/.dev  ## the test suite on the embedded default (SQLite, local-memory cache)
	env -u DATABASE_URL -u REDIS_URL $(VENV)/bin/pytest -n 2

# Under CI=true an unreachable PostgreSQL or Redis fails the run; elsewhere it is skipped, loudly.
pytest-services: $(VENV)/.dev  ## the test suite on PostgreSQL and Redis (TEST_DATABASE_URL, TEST_REDIS_URL)
	@if $(PY) scripts/services_up.py; then \
		DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/pytest -n 2 --services; \
	elif [ "$$CI" = "true" ]; then \
		echo "FAILED: CI=true needs PostgreSQL and Redis for the test suite"; exit 1; \
	else \
		echo "SKIPPED the PostgreSQL and Redis run: start them, or set TEST_DATABASE_URL / TEST_REDIS_URL"; \
	fi

fmt: $(VENV)/.dev  ## format and fix what ruff can
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench:  ## the benchmark (not yet: see the performance issue)
	@echo "make bench: not yet; use python ../shared/bench/compare.py meanwhile"

lock: $(VENV)/.dev  ## re-pin requirements*.lock from pyproject.toml
	$(PIP_COMPILE) -o requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev -o requirements-dev.lock pyproject.toml

clean:  ## remove the virtualenv and caches (keeps var/: data and keys)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
