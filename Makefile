# Set-up is two commands: `make plan STACK=dev` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STACK  ?= dev
FORMAT ?= tree
STAMP  := $(VENV)/.installed
# DVC and the model template's training tools (examples/ml-project) in a venv of their own:
# dvc-s3 pins botocore narrowly, the platform pins boto3; neither may constrain the other.
DVC_VENV  := .venv-dvc
DVC_STAMP := $(DVC_VENV)/.installed
ML_PROJECT := examples/ml-project

.PHONY: help venv venv-dvc plan plans plan-governance test lint lint-ci format docs bench clean diagram

help:
	@echo "make plan STACK=dev|staging|prod [FORMAT=tree|json|markdown]  offline plan of a stack"
	@echo "make plan-governance [GOV_STACK=example] [FORMAT=...]            offline plan of governance/"
	@echo "make test                                                       lint + whole test suite"
	@echo "make venv-dvc                                                   dvc + training tools for examples/ml-project"
	@echo "make docs                                                       regenerate docs/components.md"
	@echo "make lint | lint-ci | format | bench | clean"

# The venv is (re)built when it is missing or the pinned requirements change.
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version.split()[0])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

$(DVC_STAMP): $(ML_PROJECT)/requirements.txt
	test -x $(DVC_VENV)/bin/python || $(PYTHON) -m venv $(DVC_VENV)
	$(DVC_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $(ML_PROJECT)/requirements.txt
	@touch $(DVC_STAMP)

venv-dvc: $(DVC_STAMP)

plan: $(STAMP)
	@$(PY) -m infra.plan --stack $(STACK) --format $(FORMAT)

plans: $(STAMP)
	@for s in dev staging prod; do $(PY) -m infra.plan --stack $$s --format $(FORMAT) || exit $$?; done

# The governance project (governance/): rulesets, environments and CI variables, with the
# platform stacks' outputs it reads taken from their own offline plans.
GOV_STACK ?= example
plan-governance: $(STAMP)
	@$(PY) -m infra.plan --project governance --stack $(GOV_STACK) --format $(FORMAT)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The GitHub workflows and .gitlab-ci.yml against their published JSON schemas (SchemaStore's,
# vendored in check-jsonschema: works offline), plus "every GitHub job has timeout-minutes".
lint-ci: $(STAMP)
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml $(ML_PROJECT)/.github/workflows/*.yml
	$(VENV)/bin/check-jsonschema --builtin-schema custom.github-workflows-require-timeout .github/workflows/*.yml $(ML_PROJECT)/.github/workflows/*.yml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.gitlab-ci .gitlab-ci.yml

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# docs/components.md is generated from the components' code (tests/test_docs.py checks it).
docs: $(STAMP)
	$(PY) docs/generate.py

# tests/test_ml_project.py runs the real dvc from $(DVC_VENV) against a local S3 emulator.
test: lint lint-ci $(DVC_STAMP)
	$(PY) -m pytest --cov --cov-report=term --cov-fail-under=90

# The prod component diagram in README.md (tests fail when it is stale).
diagram: $(STAMP)
	$(PY) -m infra.diagram README.md

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) $(DVC_VENV) .pytest_cache .ruff_cache .coverage htmlcov build dist *.egg-info
