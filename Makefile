# Two commands: `make run` (install, migrate, seed, web + worker on embedded defaults) and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: install lock lint run test migrate seed

# Exact versions come from requirements.lock (`make lock` refreshes it from pyproject.toml).
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned (the CPU wheel), so that nothing pulls a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c requirements.lock -e '.[train,dev]'
	touch $@

install: $(VENV)/.installed

# Re-resolve requirements.lock (Python 3.11, Linux x86_64) from pyproject.toml's dependencies and the
# train and dev extras. Current pins are kept unless UPGRADE=1. torch resolves to its CPU wheel (from
# pip's find-links when set, else PyTorch's CPU index) so that no CUDA package enters the lock.
LOCK_TORCH = $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS) --index-strategy unsafe-best-match,--torch-backend cpu)
LOCK_TMP = $(VENV)/requirements.lock.tmp
lock:
	test -x $(VENV)/bin/uv || $(PY) -m pip install -q uv
	# the current pins (torch as the CPU build it is) are the resolver's preferences
	if [ -f requirements.lock ]; then sed -E 's/^torch==([0-9.]+)$$/torch==\1+cpu/' requirements.lock; fi > $(LOCK_TMP)
	$(VENV)/bin/uv pip compile pyproject.toml --extra train --extra dev --quiet \
	    --python-version 3.11 --python-platform x86_64-manylinux_2_28 $(LOCK_TORCH) \
	    $(if $(UPGRADE),--upgrade) --no-header --output-file $(LOCK_TMP)
	! grep -inE '^(nvidia-|triton|cuda-)' $(LOCK_TMP)
	{ echo '# Exact versions for `make install` (Python 3.11, Linux x86_64; torch is the CPU wheel). Refresh: `make lock` (newest versions: `make lock UPGRADE=1`).'; \
	  grep -v '^# Exact versions' $(LOCK_TMP) | sed -E 's/^torch==([0-9.]+)\+cpu$$/torch==\1/'; } > requirements.lock
	rm -f $(LOCK_TMP)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	@echo "Starting web + worker on embedded defaults (SQLite + a SQLite-file Celery broker under var/)"
	@echo "Open http://127.0.0.1:$(PORT)/  (Ctrl-C stops both)"
	@trap 'kill 0' INT TERM EXIT; \
	DEBUG=$${DEBUG:-true} $(VENV)/bin/celery -A webapp worker -B -Q default,gpu --concurrency 1 --loglevel warning --schedule var/celerybeat-schedule & \
	DEBUG=$${DEBUG:-true} $(PY) manage.py runserver 127.0.0.1:$(PORT)

# The suite on the stack the environment names (CI: Postgres + Redis), then everything that
# touches the database or the broker again on the embedded defaults (SQLite + a SQLite-file Celery broker).
# The soak (minutes of a mostly idle worker on the embedded defaults) runs beside both, in its own VAR_DIR.
# Lint first; every pytest run always runs, and make fails at the end if any did (a soak that PYTEST_ARGS
# deselects, pytest's exit 5, is not a failure).
SOAK_DIR := var/soak
test: install lint
	@mkdir -p $(SOAK_DIR); \
	DATABASE_URL= REDIS_URL= VAR_DIR=$(SOAK_DIR) $(PY) -m pytest -m soak -p no:cacheprovider $(PYTEST_ARGS) \
	    > $(SOAK_DIR)/pytest.log 2>&1 & soak_pid=$$!; \
	stack=0; embedded=0; soak=0; \
	$(PY) -m pytest -m "not soak" $(PYTEST_ARGS) || stack=$$?; \
	DATABASE_URL= REDIS_URL= $(PY) -m pytest -m "not ml and not soak" $(PYTEST_ARGS) || embedded=$$?; \
	wait $$soak_pid || soak=$$?; test $$soak -ne 5 || soak=0; \
	echo "--- the soak, run beside the passes above:"; tail -n 25 $(SOAK_DIR)/pytest.log; \
	echo "pytest exit codes: stack=$$stack embedded=$$embedded soak=$$soak"; \
	test $$stack -eq 0 -a $$embedded -eq 0 -a $$soak -eq 0
