# Two commands: `make run` (install, migrate, seed, web + worker on embedded defaults) and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: install run test test-stack test-embedded migrate seed worker web schema

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned, so that nothing pulls a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[train,dev]'
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	@echo "Starting web + worker on embedded defaults (SQLite + filesystem broker under var/)"
	@echo "Open http://127.0.0.1:$(PORT)/  (Ctrl-C stops both)"
	@trap 'kill 0' INT TERM EXIT; \
	DEBUG=$${DEBUG:-true} $(VENV)/bin/celery -A webapp worker -B -Q default,gpu --concurrency 1 --loglevel warning --schedule var/celerybeat-schedule & \
	DEBUG=$${DEBUG:-true} $(PY) manage.py runserver 127.0.0.1:$(PORT)

# The suite on the stack the environment names (CI: Postgres + Redis), then everything that
# touches the database or the broker again on the embedded defaults (SQLite + filesystem broker).
test: install
	$(PY) -m pytest $(PYTEST_ARGS)
	DATABASE_URL= REDIS_URL= $(PY) -m pytest -m "not ml" $(PYTEST_ARGS)
