# qslab: `make run` serves the demo site, `make test` runs the whole suite. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export DJANGO_SETTINGS_MODULE ?= qslab.settings.base
export SPARK_LOCAL_IP := 127.0.0.1
REQS := requirements/base.txt requirements/analytics.txt requirements/spark.txt requirements/dev.txt
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint audit load bench venv messages translations migrate demo worker clean fuzz

venv: $(VENV)/.installed

$(VENV)/.installed: $(REQS) pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip
	$(PIP) install -q $(addprefix -r ,$(REQS))
	$(PIP) install -q --no-deps -e .
	touch $@

translations: venv
	$(PY) manage.py compilemessages --ignore=.venv -v0

migrate: venv
	$(PY) manage.py migrate -v0

demo: migrate
	$(PY) manage.py load_demo

run: translations demo
	@echo "Serving http://$(HOST):$(PORT)/ (SQLite var/qslab.sqlite3, DuckDB var/analytics.duckdb); Ctrl-C stops."
	@trap 'kill $$WORKER $$SCHED 2>/dev/null' EXIT; \
	$(PY) manage.py db_worker --queue-name '*' & WORKER=$$!; \
	$(PY) manage.py run_scheduler & SCHED=$$!; \
	$(PY) manage.py runserver $(HOST):$(PORT)

# Two pytest workers on two cores (one BLAS thread each so they do not spin against each other), then
# the transactional tests (browser, concurrency) in one process. QSLAB_SKIP_ENGINES=1 leaves out the
# engines' tests (they use no relational database), as the PostgreSQL pass of .ci/run does.
# Each pass ends with its 15 slowest tests (where the CI time goes).
test: translations
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q --ds=qslab.settings.test -n 2 --dist loadgroup -m "not serial" --durations=15 $(PYTEST_ARGS)
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q --ds=qslab.settings.test -m serial --durations=15 $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check qslab bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	$(MAKE) --no-print-directory audit

# Dependency audit (pip-audit over the venv). Without network the service cannot be asked: it then says
# so loudly instead of reporting a clean audit; AUDIT_STRICT=1 turns that into a failure.
audit: venv
	$(PY) -m qslab.core.depaudit

bench: venv
	$(PY) -m bench.run

# Load test: seed 1,000 labs / 100,000 incidents / 10,000 bookings (separate SQLite under var/load unless
# DATABASE_URL is set), gunicorn on loopback, locust headless for LOAD_TIME with LOAD_USERS users, then
# p50/p95/p99 and errors against the target (50 users, 0 errors, p95 <= 150 ms). See load/run.sh.
load: translations
	PY=$(PY) load/run.sh

fuzz: translations
	QSLAB_FUZZ_EXAMPLES=2000 $(PY) -m pytest -q --ds=qslab.settings.test qslab/core/tests/test_api_fuzz.py

messages: venv
	cd qslab && ../$(PY) ../manage.py makemessages -l zh_Hans --ignore='tests/*' --no-obsolete

clean:
	rm -rf var
