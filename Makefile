# Two commands on a fresh machine: `make demo` and `make test`. Both use the virtualenv in .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON_BIN ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/feedback
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15
PORT ?= 8000
ADDRPORT ?= 127.0.0.1:$(PORT)

.PHONY: help demo test test-sqlite lint bench chromium clean

help:
	@echo "make demo   - install, migrate, load demo data, serve the app with a Celery worker"
	@echo "              (make demo PORT=8001, or ADDRPORT=0.0.0.0:8001)"
	@echo "make test   - install what the tests need and run the whole suite"
	@echo "make lint   - ruff and the import-layer contracts"
	@echo "make bench  - peer benchmarks (slow; prints tables)"

$(VENV)/.runtime: requirements.txt
	@test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

demo: $(VENV)/.runtime
	DEBUG=$${DEBUG:-1} $(PY) manage.py demo --addrport $(ADDRPORT)

# Debian's chromium drives the browser tests (Playwright cannot download browsers here).
chromium:
	@command -v chromium >/dev/null || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Runs on PostgreSQL when DATABASE_URL points at it or a server answers on 127.0.0.1:5432,
# else on SQLite; then the database tests once more on SQLite so both stay green.
test: $(VENV)/.dev chromium
	@set -e; \
	if [ -z "$$DATABASE_URL" ] && $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; then \
	  export DATABASE_URL=$(PG_URL); fi; \
	export DEBUG=1 REDIS_TEST_URL=$${REDIS_TEST_URL:-$(REDIS_TEST_URL)}; \
	echo "== ruff and import contracts"; \
	$(VENV)/bin/ruff check . && $(VENV)/bin/lint-imports --no-cache; \
	echo "== test suite on $${DATABASE_URL:-SQLite}"; \
	$(PY) -m pytest $(PYTEST_ARGS); \
	if [ -n "$$DATABASE_URL" ]; then \
	  echo "== database tests again on SQLite"; \
	  env -u DATABASE_URL $(PY) -m pytest tests/annotations -m "not browser and not postgres" -q $(PYTEST_ARGS); fi

test-sqlite: $(VENV)/.dev
	env -u DATABASE_URL DEBUG=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/lint-imports --no-cache

bench: $(VENV)/.dev
	$(PY) bench/bt.py && $(PY) bench/dawid_skene.py && $(PY) bench/irt.py && $(PY) bench/facets.py

clean:
	rm -rf $(VENV) var db.sqlite3 artifacts staticfiles
