# The two commands: `make run` and `make test`. Both set up everything first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PSYCOPG_WAIT_FUNC := wait_select

.PHONY: run test venv infra tools setup demo bench chaos report unit clean

run: venv infra
	$(VENV)/bin/onewindow run

test: venv infra tools
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

unit: venv
	$(VENV)/bin/pytest -q tests/unit $(PYTEST_ARGS)

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	bash scripts/ensure-python.sh $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

infra:
	bash scripts/ensure-infra.sh

tools:
	bash scripts/ensure-tools.sh

setup: venv infra
	$(VENV)/bin/onewindow setup

demo: venv
	$(PY) -m scripts.demo

bench: venv infra
	$(PY) -m scripts.bench $(BENCH_ARGS)

fuzz: venv infra
	$(PY) -m scripts.fuzz $(FUZZ_ARGS)

chaos: venv infra
	$(PY) -m scripts.chaos $(CHAOS_ARGS)

# Default: the current month so far (override: make report REPORT_ARGS="--start 2025-01-01 --end 2025-01-31").
REPORT_ARGS ?= --start $(shell date +%Y-%m-01) --end $(shell date +%Y-%m-%d)
report: venv
	$(VENV)/bin/onewindow report $(REPORT_ARGS)

clean:
	rm -rf $(VENV) *.egg-info
