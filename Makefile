# The inventory pipeline, offline. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INVENTORY := $(VENV)/bin/inventory
# jsii warns loudly on Node 20; the pinned CDK works there, so keep the output readable.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 20
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install demo up down outputs test lint format unit infra-test integration property simulate simulate-bench load bench bench-large deploy destroy scale redrive clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

install: $(VENV)/.installed node_modules/.installed $(CHROMIUM) ## create .venv, install the pinned Python and npm dependencies and Debian's chromium

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==25.3
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

# The browser tests drive Debian's chromium with Playwright (whose own download cannot work
# offline); as root it is installed when missing, otherwise we say how.
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
	  echo "note: the browser tests need Debian's chromium: sudo apt-get install chromium" >&2; \
	fi

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

demo: install ## from nothing to a visible result: emulator, stack, sample-data/, measured latencies
	$(INVENTORY) demo

up: install ## start the emulator and deploy the stack, left running; prints the outputs as JSON (AUTH=true: IAM enforced, https)
	$(INVENTORY) up

down: ## stop the emulator once nothing is in flight (at most 60 s), keeping its state for `make up` (`inventory down --forget`: delete it)
	@if [ -x $(INVENTORY) ]; then $(INVENTORY) down; fi

outputs: install ## print the deployed stack's outputs as JSON
	$(INVENTORY) outputs

lint: install ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

unit: install ## unit tests only (no network)
	$(PY) -m pytest -m unit

infra-test: install ## template assertions and cdk-nag only
	$(PY) -m pytest -m infra

# The integration tests run with MiniStack enforcing IAM (over https); AUTH=false runs them without.
test integration: export AUTH ?= true

# MiniStack 1.5.33's JWT authorizer fetches the user pool's keys over plain http, which an
# https (AUTH=true) emulator does not serve, so it refuses every token there: the dashboard's
# tests (API, schemathesis, browser) run on a second emulator, over http (docs/testing.md).
DASHBOARD_ENDPOINT ?= http://127.0.0.1:4567
DASHBOARD_TESTS = AUTH=false AWS_ENDPOINT_URL=$(DASHBOARD_ENDPOINT) AWS_ENDPOINT_URL_S3=$(DASHBOARD_ENDPOINT) $(PY) -m pytest -m dashboard

integration: install ## integration tests, IAM enforced (starts the emulator and deploys if needed), then the dashboard's on an http emulator
	$(PY) -m pytest -m "integration and not dashboard"
	$(DASHBOARD_TESTS)

property: install ## hypothesis property tests, quick profile (HYPOTHESIS_PROFILE=dev)
	HYPOTHESIS_PROFILE=dev $(PY) -m pytest property_tests

test: lint ## every test: lint, unit, infra, integration (IAM enforced), property (ci profile); CI runs this
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest -m "not dashboard"
	$(DASHBOARD_TESTS)

FILES ?= 300
ROWS ?= 50
SEED ?= 7
MESSY ?= all=0.03
SIM_DIR ?= runs/simulate-$(SEED)
UPLOAD_ARGS ?=
FAULTS ?=
simulate: install ## generate, upload and verify a run (FILES=300 ROWS=50 SEED=7 MESSY=all=0.03 FAULTS= UPLOAD_ARGS=)
	$(INVENTORY) up > /dev/null
	rm -rf $(SIM_DIR)
	$(INVENTORY) simulate generate --files $(FILES) --rows $(ROWS) --seed $(SEED) --messy $(MESSY) --out $(SIM_DIR)
	$(INVENTORY) simulate upload $(SIM_DIR) $(if $(FAULTS),--faults $(FAULTS)) $(UPLOAD_ARGS)
	$(INVENTORY) simulate verify $(SIM_DIR)

simulate-bench: install ## time generating 10,000 files x 50 rows (a benchmark, not a test)
	$(INVENTORY) simulate bench --files 10000 --rows 50

SHAPE ?= steady
DURATION ?= 180
SPEEDUP ?= 100
WORKERS ?=
LOAD_ARGS ?=
load: install ## locust run, reports/<run>/ + reports/latest/ (SHAPE=steady|ramp|spike DURATION=180 SPEEDUP=100 ENDPOINT= FAULTS= WORKERS= LOAD_ARGS=)
	$(INVENTORY) load --shape $(SHAPE) --duration $(DURATION) --speedup $(SPEEDUP) $(if $(ENDPOINT),--endpoint $(ENDPOINT)) $(if $(FAULTS),--faults $(FAULTS)) $(if $(WORKERS),--workers $(WORKERS)) $(LOAD_ARGS)

bench: install ## ours vs the lab-style baseline vs raw writes vs csv.reader; writes reports/latest/bench.json
	$(INVENTORY) bench $(BENCH_ARGS)

bench-large: install ## the loader's peak memory on 1, 10 and 100 MB files, and 100 MB end to end (about 20 min); reports/latest/large.json
	$(INVENTORY) bench-large $(LARGE_ARGS)

BY ?= size
SCALE_ARGS ?=
scale: install ## scaling curves against file size (BY=size) or arrival rate (BY=rate), about 10 min each; reports/<stamp>-scale-<by>/ (SCALE_ARGS=)
	$(INVENTORY) scale --by $(BY) $(SCALE_ARGS)

# Promotion: to AWS with your credentials and region (the SDK's defaults), or rehearsed on the
# emulator when AWS_ENDPOINT_URL is set (cdklocal). docs/deploying.md.
DEPLOY_ARGS ?=
deploy: install ## gate (lint, unit, property, infra), then cdk deploy with your AWS credentials (asks first), then `inventory smoke` (DEPLOY_ARGS=--yes)
	$(INVENTORY) deploy $(DEPLOY_ARGS)

DESTROY_ARGS ?=
destroy: install ## cdk destroy the stack (asks first), then list the retained bucket and tables and how to delete them (DESTROY_ARGS=--yes)
	$(INVENTORY) destroy $(DESTROY_ARGS)

REDRIVE_ARGS ?=
redrive: install ## re-drive LoadInventoryFailures and CheckStockFailures into the functions (REDRIVE_ARGS=--dry-run)
	$(INVENTORY) redrive $(REDRIVE_ARGS)

clean: ## stop the emulator and forget its saved state; remove build output (keeps .venv and node_modules)
	@if [ -x $(INVENTORY) ]; then $(INVENTORY) down --forget; fi
	rm -rf cdk.out .emulator/logs .emulator/[0-9]*/logs .pytest_cache .mypy_cache .ruff_cache
