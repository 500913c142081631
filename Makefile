# Set-up is two commands: `make plan STACK=dev` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STACK  ?= dev
FORMAT ?= tree
STAMP  := $(VENV)/.installed

.PHONY: help venv plan plans test lint lint-ci format docs bench clean

help:
	@echo "make plan STACK=dev|staging|prod [FORMAT=tree|json|markdown]  offline plan of a stack"
	@echo "make test                                                       lint + whole test suite"
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

plan: $(STAMP)
	@$(PY) -m infra.plan --stack $(STACK) --format $(FORMAT)

plans: $(STAMP)
	@for s in dev staging prod; do $(PY) -m infra.plan --stack $$s --format $(FORMAT) || exit $$?; done

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The GitHub workflows and .gitlab-ci.yml against their published JSON schemas (SchemaStore's,
# vendored in check-jsonschema: works offline), plus "every GitHub job has timeout-minutes".
lint-ci: $(STAMP)
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(VENV)/bin/check-jsonschema --builtin-schema custom.github-workflows-require-timeout .github/workflows/*.yml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.gitlab-ci .gitlab-ci.yml

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# docs/components.md is generated from the components' code (tests/test_docs.py checks it).
docs: $(STAMP)
	$(PY) docs/generate.py

test: lint lint-ci
	$(PY) -m pytest --cov --cov-report=term --cov-fail-under=90

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .coverage htmlcov build dist *.egg-info
