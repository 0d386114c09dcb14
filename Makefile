# RealTone — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
LS_VENV := .venv-localstack
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LS_STAMP := $(LS_VENV)/.installed
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM_ENV := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=offline AWS_SECRET_ACCESS_KEY=offline
SAM_BUILD_DIR := .local/sam-build
PYTEST := $(PY) -m pytest

.PHONY: help install install-browser run test test-unit test-integration test-e2e lint lint-template sam-build invoke bench bench-voices corpus speakers detector format clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,tools]'
	@touch $@

$(LS_STAMP): localstack/requirements.txt
	@test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet -r localstack/requirements.txt
	@touch $@

$(SAM_STAMP): deploy/requirements-sam.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet -r deploy/requirements-sam.txt
	@touch $@

# Debian's Chromium for the UI tests (Playwright drives it; it never downloads a browser).
BROWSER := /usr/bin/chromium
$(BROWSER):
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get install -y -q chromium >/dev/null || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }

install-browser: $(BROWSER) ## Install Debian's Chromium for the browser tests

install: $(STAMP) $(LS_STAMP) ## Install everything into .venv (and LocalStack into .venv-localstack)

run: install ## Start Postgres, Redis, LocalStack, the API (http://127.0.0.1:8000), a scorer worker and the webhook worker
	$(VENV)/bin/realtone-local run

lint: $(STAMP) ## ruff + mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

lint-template: $(SAM_STAMP) ## cfn-lint and sam validate --lint on template.yaml (any finding fails)
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(SAM_ENV) $(SAM_VENV)/bin/sam validate --lint --template template.yaml

sam-build: $(SAM_STAMP) ## sam build of the zip function (its code also serves the migrations, sweep and webhook functions) + layer; import it in a clean Python
	@command -v python3.11 >/dev/null || { echo "sam build needs python3.11 on PATH"; exit 1; }
	rm -rf $(SAM_BUILD_DIR)
	$(SAM_ENV) $(SAM_VENV)/bin/sam build ApiFunction --template template.yaml --build-dir $(SAM_BUILD_DIR)
	@# The variables a Lambda container always has, and those its settings require at import.
	cd /tmp && env -i PATH=/usr/bin:/bin PYTHONPATH=$(CURDIR)/$(SAM_BUILD_DIR)/ApiFunction:$(CURDIR)/$(SAM_BUILD_DIR)/CommonLayer/python \
		AWS_REGION=eu-central-1 REALTONE_BUCKET=realtone-audio REALTONE_QUEUE_URL=https://sqs.eu-central-1.amazonaws.com/1/q \
		REALTONE_ENV=prod REALTONE_JWT_SECRET=sam-build-import-check-not-a-real-secret-0123456789 \
		$$(python3.11 -c 'import sys; print(sys.executable)') -c "import realtone_api.main, realtone_api.migrations_resource, realtone_api.sweep_handler, realtone_api.webhook_handler; print('built API imports cleanly')"

invoke: install ## Replay an event through a real handler with the running `make run` stack: make invoke FN=api|scorer EVENT=tests/events/api-health.json [SET="EMAIL=a@b.c"]
	$(VENV)/bin/realtone-local invoke --function $(FN) --event $(EVENT) $(foreach kv,$(SET),--set $(kv))

bench: $(STAMP) ## Scorer benchmark: production pipeline vs the original way (prints throughput_ratio=…)
	$(PY) bench/scorer.py

bench-voices: $(STAMP) ## Voice search on 100,000 speakers of one account: HNSW vs exact scan (p50/p99, recall; ~3 min)
	$(PY) bench/voices.py

corpus: $(STAMP) ## Build the offline detector corpus into .local/corpus (Debian speech and voices, Piper; ~6 min on 2 cores; not in CI)
	@missing=$$(for p in sox codec2 espeak-ng flite festival festvox-ru festvox-us-slt-hts festvox-ca-ona-hts \
			festvox-kallpc16k festvox-kdlpc16k festvox-italp16k festvox-itapc16k festvox-czech-dita \
			festvox-czech-machac festvox-suopuhe-lj festvox-suopuhe-mv asterisk-core-sounds-en-g722 \
			asterisk-core-sounds-es-g722 asterisk-core-sounds-fr-g722 asterisk-core-sounds-it-g722 \
			asterisk-core-sounds-ru-g722 asterisk-prompt-it-menardi-wav asterisk-prompt-es-co \
			asterisk-prompt-fr-armelle fillets-ng-data fillets-ng-data-cs fillets-ng-data-nl klettres-data; do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get install -y -q --no-install-recommends $$missing >/dev/null || \
			{ $$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends $$missing; }; \
	fi
	$(PY) -m pip install --quiet -e '.[dev,tools,corpus]'
	time $(PY) -m detector.corpus --out .local/corpus

speakers: corpus ## Choose and measure the speaker thresholds on the corpus's known speakers (docs/speakers/report.json; ~3 min; not in CI)
	time $(PY) -m detector.speakers --corpus .local/corpus --report docs/speakers/report.json

detector: corpus ## Train the shipped detector on the corpus and measure it (models/realtone-detector, docs/detector.md; ~1 h on 2 cores; not in CI)
	time $(PY) -m detector.build --corpus .local/corpus --out models/realtone-detector --report docs/detector/report.json
	$(PY) -m detector.report docs/detector/report.json docs/detector.md

format: $(STAMP) ## Format and fix what ruff can
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test-unit: $(STAMP) ## Unit tests (no network)
	$(PYTEST) tests/unit

test-integration: install ## Integration tests against Postgres, Redis and LocalStack
	$(PYTEST) tests/integration

test-e2e: install install-browser ## End-to-end tests over HTTP against the running stack
	$(PYTEST) tests/e2e

test: install install-browser lint lint-template sam-build ## Everything CI runs: lint, template lint, sam build, unit, integration and e2e tests
	$(PYTEST) tests

clean: ## Remove the virtualenvs and local state
	rm -rf $(VENV) $(LS_VENV) $(SAM_VENV) .local .mypy_cache .ruff_cache .pytest_cache
