# The two commands: `make run` and `make test`. Both set up everything first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PSYCOPG_WAIT_FUNC := wait_select


.PHONY: lock
.PHONY: run test venv infra tools setup demo bench chaos soak report unit clean api-docs bench-gateway

run: venv infra
	$(VENV)/bin/onewindow run

test: venv infra tools
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

unit: venv
	$(VENV)/bin/pytest -q tests/unit $(PYTEST_ARGS)

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-test.txt pyproject.toml
	bash scripts/ensure-python.sh $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements.txt -r requirements-test.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

infra:
	bash scripts/ensure-infra.sh

tools: venv
	bash scripts/ensure-tools.sh
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-browser.txt
	bash scripts/ensure-clients.sh

# The gateway's cost over direct RPC and the webhook delay (BENCH_ARGS="--calls 200" for less)
bench-gateway: venv infra
	$(PY) -m scripts.bench_gateway $(BENCH_ARGS)

# OpenAPI and AsyncAPI documents (docs/api/) from the services' schemas
api-docs: venv
	$(PY) -m scripts.api_docs

setup: venv infra
	$(VENV)/bin/onewindow setup

demo: venv
	$(PY) -m scripts.demo
	$(PY) -m scripts.demo_hall

bench: venv infra
	$(PY) -m scripts.bench $(BENCH_ARGS)

fuzz: venv infra
	$(PY) -m scripts.fuzz $(FUZZ_ARGS)
	$(PY) -m scripts.wire_fuzz $(WIRE_FUZZ_ARGS)

chaos: venv infra
	$(PY) -m scripts.chaos $(CHAOS_ARGS)

# 60 minutes at half the measured rate (SOAK_ARGS="--minutes 3" for less)
soak: venv infra
	$(PY) -m scripts.soak $(SOAK_ARGS)

# Default: the current month so far (override: make report REPORT_ARGS="--start 2025-01-01 --end 2025-01-31").
REPORT_ARGS ?= --start $(shell date +%Y-%m-01) --end $(shell date +%Y-%m-%d)
report: venv
	$(VENV)/bin/onewindow report $(REPORT_ARGS)

# Re-lock after changing requirements.in or requirements-test.in: exact versions
# and hashes of every package, runtime (the image) apart from test.
lock:
	$(VENV)/bin/pip install -q --disable-pip-version-check pip-tools==7.6.2
	$(VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links -o requirements.txt requirements.in
	$(VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links -o requirements-test.txt requirements-test.in

clean:
	rm -rf $(VENV) *.egg-info
