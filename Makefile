# RealTone — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
LS_VENV := .venv-localstack
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LS_STAMP := $(LS_VENV)/.installed
PYTEST := $(PY) -m pytest

.PHONY: help install run test test-unit test-integration test-e2e lint format clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

$(LS_STAMP): localstack/requirements.txt
	@test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet -r localstack/requirements.txt
	@touch $@

install: $(STAMP) $(LS_STAMP) ## Install everything into .venv (and LocalStack into .venv-localstack)

run: install ## Start Postgres, Redis, LocalStack, the API (http://127.0.0.1:8000) and a scorer worker
	$(VENV)/bin/realtone-local run

lint: $(STAMP) ## ruff + mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP) ## Format and fix what ruff can
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test-unit: $(STAMP) ## Unit tests (no network)
	$(PYTEST) tests/unit

test-integration: install ## Integration tests against Postgres, Redis and LocalStack
	$(PYTEST) tests/integration

test-e2e: install ## End-to-end tests over HTTP against the running stack
	$(PYTEST) tests/e2e

test: install lint ## Everything CI runs: lint, unit, integration and e2e tests
	$(PYTEST) tests

clean: ## Remove the virtualenvs and local state
	rm -rf $(VENV) $(LS_VENV) .local .mypy_cache .ruff_cache .pytest_cache
