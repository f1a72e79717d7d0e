.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
export TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
SOAK_SECONDS ?= 300
PIP_COMPILE := $(PY) -m piptools compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links

.PHONY: help run test test-bench test-soak lint types check-migrations schema pytest pytest-sqlite pytest-services fuzz fmt bench bench-scale bench-smoke soak soak-short lock clean browser-deps interop-deps

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(VENV)/.runtime: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	touch $@

$(VENV)/.dev: requirements-dev.lock $(VENV)/.runtime
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

run: $(VENV)/.runtime  ## install, migrate and serve on http://$HOST:$PORT (SQLite under var/ by default), with a task worker beside it
	$(PY) manage.py migrate --no-input
	$(PY) manage.py collectstatic --no-input --verbosity 0
	exec $(PY) manage.py serve

test: lint types check-migrations schema pytest fuzz test-bench test-soak  ## every check: lint, types, migrations drift, schema, tests, fuzzing, benchmark and soak smoke runs

# make test runs the short versions of the benchmark and the soak. They need wrk, and (the
# soak) PostgreSQL and Redis it may restart: skipped with a message where those are missing,
# failed under CI=true.
test-bench: $(VENV)/.dev
	@if command -v wrk >/dev/null; then $(MAKE) --no-print-directory bench-smoke; \
	elif [ "$$CI" = "true" ]; then echo "FAILED: CI=true needs wrk for make bench-smoke"; exit 1; \
	else echo "SKIPPED make bench-smoke: wrk is missing (apt-get install wrk)"; fi

test-soak: $(VENV)/.dev
	@if $(PY) scripts/services_up.py; then $(MAKE) --no-print-directory soak-short; \
	elif [ "$$CI" = "true" ]; then echo "FAILED: CI=true needs PostgreSQL and Redis for make soak-short"; exit 1; \
	else echo "SKIPPED make soak-short: PostgreSQL or Redis is not reachable"; fi

lint: $(VENV)/.dev  ## ruff (lint and format check) and the import contracts (import-linter)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

types: $(VENV)/.dev  ## mypy with the Django and DRF stubs
	$(VENV)/bin/mypy .

check-migrations: $(VENV)/.dev  ## fail if models and migrations drifted apart
	$(PY) manage.py makemigrations --check --dry-run

schema: $(VENV)/.dev  ## generate and validate the OpenAPI document; warnings fail
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

pytest: pytest-sqlite pytest-services  ## the test suite on SQLite, then again on PostgreSQL and Redis

pytest-sqlite: $(VENV)/.dev browser-deps interop-deps  ## the test suite on the embedded default (SQLite, local-memory cache)
	env -u DATABASE_URL -u REDIS_URL $(VENV)/bin/pytest -n 2

# The browser tests (tests/browser/) drive Debian's chromium, installed here when missing (root
# and apt). Where it cannot be, they skip with a message; under CI=true they fail.
browser-deps:  ## install Debian's chromium and chromium-driver for the browser tests (a no-op when present)
	@scripts/browser_deps.sh || [ "$$CI" != "true" ]

# The OAuth client interop test (tests/integration/test_oauth_client.py) runs oauth4webapi on
# the machine's Node.js, installed from tests/interop/package-lock.json (again only when the
# lock file changed). Without node it skips with a message; under CI=true it fails.
interop-deps:  ## install the pinned OAuth client library of the interop test (npm ci in tests/interop)
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
		if [ "$$CI" = "true" ]; then echo "FAILED: CI=true needs node and npm for the OAuth client interop test"; exit 1; fi; \
		echo "SKIPPED installing tests/interop: node or npm is missing"; \
	elif [ tests/interop/node_modules/.package-lock.json -nt tests/interop/package-lock.json ]; then :; \
	elif ! npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error; then \
		if [ "$$CI" = "true" ]; then echo "FAILED: npm ci in tests/interop"; exit 1; fi; \
		echo "SKIPPED installing tests/interop: npm ci failed"; \
	fi

# Under CI=true an unreachable PostgreSQL or Redis fails the run; elsewhere it is skipped, loudly.
pytest-services: $(VENV)/.dev  ## the test suite on PostgreSQL and Redis (TEST_DATABASE_URL, TEST_REDIS_URL)
	@if $(PY) scripts/services_up.py; then \
		DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/pytest -n 2 --services; \
	elif [ "$$CI" = "true" ]; then \
		echo "FAILED: CI=true needs PostgreSQL and Redis for the test suite"; exit 1; \
	else \
		echo "SKIPPED the PostgreSQL and Redis run: start them, or set TEST_DATABASE_URL / TEST_REDIS_URL"; \
	fi

# The shipped server on a fresh SQLite database, fuzzed through /schema/ by schemathesis with
# every check, a fixed seed and bounded examples; non-zero on any failure (see fuzz/run.py).
fuzz: $(VENV)/.dev  ## schemathesis against the running server, every check, deterministic (2-3 min)
	$(PY) -m fuzz.run $(FUZZ_ARGS)

fmt: $(VENV)/.dev  ## format and fix what ruff can
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(VENV)/.dev  ## the benchmark: served as shipped (SQLite), driven by wrk; bench/results/bench.{json,png}
	$(PY) -m bench.run $(BENCH_ARGS)

bench-scale: $(VENV)/.dev  ## the scale benchmark: PostgreSQL, 1,000,000 tasks (BENCH_DATABASE_URL); bench/results/scale.*
	$(PY) -m bench.scale $(BENCH_ARGS)

bench-smoke: $(VENV)/.dev  ## both benchmarks with tiny sizes and durations (about a minute): do they still work?
	$(PY) -m bench.run --smoke
	$(PY) -m bench.scale --smoke

# The soak stops and starts this machine's PostgreSQL and Redis (see soak/__init__.py), and
# always starts them again before it exits. It exits non-zero on any violation.
soak: $(VENV)/.runtime  ## load with faults for SOAK_SECONDS (300): worker SIGKILL, PostgreSQL and Redis restarts, task worker SIGKILL; events checked
	$(PY) -m soak --duration $(SOAK_SECONDS)

soak-short: $(VENV)/.runtime  ## the soak in about 90 s (60 s of load), for CI
	$(PY) -m soak --duration 60

lock: $(VENV)/.dev  ## re-pin requirements*.lock from pyproject.toml
	$(PIP_COMPILE) -o requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev -o requirements-dev.lock pyproject.toml

clean:  ## remove the virtualenv and caches (keeps var/: data and keys)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
