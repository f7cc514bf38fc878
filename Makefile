# webhook-resend: every command a user or CI needs. Each target installs what it needs itself.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
TOOLS := .venv-tools
SCAN := .venv-scan
PY := $(VENV)/bin/python
SAM := SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam
PORT ?= 3000
PYTEST_ARGS ?=

STACK ?= webhook-resend
QUEUE ?= all

CHROMIUM := /usr/bin/chromium

.PHONY: help install tools browser run test lint format scan validate build deploy redrive bench openapi clean

help:
	@echo "make run       serve the whole stack on http://127.0.0.1:$(PORT) (moto, no Docker, no AWS)"
	@echo "make test      lint, template scan and checks, sam build and the whole test suite (offline)"
	@echo "make browser   install Debian's chromium (as root) for the console's browser tests"
	@echo "make scan      checkov on template.yaml (offline); fails on any failed check"
	@echo "make deploy    sam build and sam deploy to the account of your AWS credentials"
	@echo "make redrive   move dead-lettered messages back (STACK=..., QUEUE=delivery|fanout|all)"
	@echo "make bench     performance figures next to same-run baselines (bench-results.json)"
	@echo "make format    apply ruff's formatting and fixes"
	@echo "make openapi   write the OpenAPI document the admin function serves (api/openapi.json)"
	@echo "make clean     remove virtualenvs and build output"

# The project's virtualenv, rebuilt when a requirements file changes.
$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	# The command-line client (standard library only): .venv/bin/webhook-resend
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# The SAM CLI pins boto3 exactly, so it gets a virtualenv of its own.
$(TOOLS)/.installed: requirements-tools.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r requirements-tools.txt
	touch $@

# checkov pins boto3 to another exact version than the SAM CLI does: a virtualenv of its own too.
$(SCAN)/.installed: requirements-scan.txt
	test -x $(SCAN)/bin/python || $(PYTHON) -m venv $(SCAN)
	$(SCAN)/bin/python -m pip install --quiet --upgrade pip
	$(SCAN)/bin/python -m pip install --quiet -r requirements-scan.txt
	touch $@

install: $(VENV)/.installed
tools: $(TOOLS)/.installed

# The headless browser the console's tests drive with Playwright (tests/e2e/test_console.py):
# Debian's chromium, since `playwright install` cannot download its own browsers offline. apt
# needs root, which CI has; elsewhere install it once with sudo.
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "make browser: $(CHROMIUM) is missing: run 'sudo apt-get install chromium' (Debian)" >&2; exit 1; \
	  fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	}

run: install
	PORT=$(PORT) $(PY) -m devstack

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Every checkov check on the template; any failed check (or a template checkov cannot parse)
# fails the build. Offline: no download from checkov's platform, no version check. A check that
# does not apply is skipped in the template's own Metadata with its reason (README, Security).
scan: $(SCAN)/.installed
	CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE CKV_PARSE_ERROR_FAIL=true \
	  $(SCAN)/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

validate: tools
	$(SAM) validate --lint --template-file template.yaml

# Lambda cannot write bytecode, so without it every cold start compiles our modules again: the
# build ships it, compiled by the runtime's Python version (3.11) and used without checking the
# sources' timestamps (a zip keeps them to 2 s only).
build: tools
	$(SAM) build --template-file template.yaml --build-dir .aws-sam/build
	$(TOOLS)/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
	  || { echo "build: bytecode must be compiled by Python 3.11, the functions' runtime" >&2; exit 1; }
	$(TOOLS)/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build
	test -n "$$(find .aws-sam/build/CommonLayer -path '*webhook_resend/delivery/__pycache__/deliverer.cpython-311.pyc')"
	test -n "$$(find .aws-sam/build/CommonLayer -path '*webhook_resend/api/openapi.json')"
	test -f .aws-sam/build/ConsoleFunction/static/index.html -a -f .aws-sam/build/ConsoleFunction/static/console.js

# The checks before the suite run side by side: filling three virtualenvs is mostly waiting on
# the package registry, so together they take about as long as the longest of them.
test:
	$(MAKE) --jobs=4 --output-sync=target lint scan validate build browser
	$(VENV)/bin/pytest -n 2 $(PYTEST_ARGS)

deploy: build
	$(SAM) deploy --template-file .aws-sam/build/template.yaml $(if $(GUIDED),--guided,)

bench: install
	$(PY) bench/run.py --json bench-results.json

# The document GET /openapi.json serves, generated from every function's routers; a unit test
# fails when the committed file drifts from them.
openapi: install
	PYTHONPATH=layers/common $(PY) -m webhook_resend.api.openapi

redrive: install
	$(PY) scripts/redrive.py --stack $(STACK) --queue $(QUEUE)

clean:
	rm -rf $(VENV) $(TOOLS) $(SCAN) .aws-sam .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
