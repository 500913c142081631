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
# checkov (make audit) in a venv of its own: its pins (boto3, ...) clash with the platform's.
AUDIT_VENV  := .venv-audit
AUDIT_STAMP := $(AUDIT_VENV)/.installed
AUDIT_PLANS := build/audit

.PHONY: help venv venv-dvc venv-audit plan plans plan-governance test lint lint-ci audit format docs schema bench bench-serving clean diagram readme-counts

help:
	@echo "make plan STACK=dev|staging|prod [FORMAT=tree|json|markdown]  offline plan of a stack"
	@echo "make plan-governance [GOV_STACK=example] [FORMAT=...]            offline plan of governance/"
	@echo "make test                                                       lint + whole test suite"
	@echo "make venv-dvc                                                   dvc + training tools for examples/ml-project"
	@echo "make docs                                                       regenerate docs/components.md and README's config reference"
	@echo "make schema                                                     regenerate docs/*-config.schema.json (the stack files' JSON Schemas)"
	@echo "make readme-counts | diagram                                    regenerate README's counts | diagram"
	@echo "make audit                                                      checkov over the Terraform plans, workflows, Dockerfile"
	@echo "make bench-serving                                              model server under wrk on loopback (about a minute)"
	@echo "make lint | lint-ci | format | bench | clean"

# The venv is (re)built when it is missing or the pinned requirements change. Everything it
# prints goes to stderr, so that `make plan FORMAT=json` prints only JSON on stdout, also on a
# fresh clone (tests/test_makefile.py).
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version.split()[0])'
	@echo "make: installing the pinned requirements into $(VENV) ..." >&2
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) >&2
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt >&2
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e . >&2
	@touch $(STAMP)

venv: $(STAMP)

$(DVC_STAMP): $(ML_PROJECT)/requirements.txt
	test -x $(DVC_VENV)/bin/python || $(PYTHON) -m venv $(DVC_VENV)
	$(DVC_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $(ML_PROJECT)/requirements.txt
	# The training pipeline's steps (python -m mlops_platform.ops ...) run here, as in the
	# training image: the platform library without its pins (boto3 follows dvc-s3's botocore).
	$(DVC_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(DVC_STAMP)

venv-dvc: $(DVC_STAMP)

$(AUDIT_STAMP): policy/audit-requirements.txt
	test -x $(AUDIT_VENV)/bin/python || $(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r policy/audit-requirements.txt
	@touch $(AUDIT_STAMP)

venv-audit: $(AUDIT_STAMP)

# checkov over the three stacks' Terraform plans (--format terraform-plan), the GitHub workflows,
# serving/Dockerfile and .gitlab-ci.yml, once each; every failure fixed or skipped with a reason
# in policy/checkov-skips.yaml, and every file really scanned (policy/audit.py).
audit: $(STAMP) $(AUDIT_STAMP)
	@mkdir -p $(AUDIT_PLANS)
	@for s in dev staging prod; do $(PY) -m infra.plan --stack $$s --format terraform-plan > $(AUDIT_PLANS)/$$s.tfplan.json || exit $$?; done
	$(AUDIT_VENV)/bin/python policy/audit.py --plans $(AUDIT_PLANS)

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
# vendored in check-jsonschema: works offline), plus "every GitHub job has timeout-minutes";
# zizmor's security audit of the workflows (no unsuppressed finding at medium or above; each
# suppression is an inline `zizmor: ignore[...]` with its reason beside it).
lint-ci: $(STAMP)
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml $(ML_PROJECT)/.github/workflows/*.yml
	$(VENV)/bin/check-jsonschema --builtin-schema custom.github-workflows-require-timeout .github/workflows/*.yml $(ML_PROJECT)/.github/workflows/*.yml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.gitlab-ci .gitlab-ci.yml
	$(VENV)/bin/check-jsonschema --schemafile docs/stack-config.schema.json Pulumi.dev.yaml Pulumi.staging.yaml Pulumi.prod.yaml
	$(VENV)/bin/check-jsonschema --schemafile docs/governance-config.schema.json governance/Pulumi.example.yaml
	$(VENV)/bin/check-jsonschema --schemafile docs/bootstrap-config.schema.json bootstrap/Pulumi.example.yaml
	$(VENV)/bin/zizmor --offline --min-severity medium .github/workflows $(ML_PROJECT)/.github/workflows

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# docs/components.md and README.md's configuration reference are generated from the code
# (tests/test_docs.py checks them).
docs: $(STAMP)
	$(PY) docs/generate.py

# The JSON Schemas of Pulumi.<stack>.yaml, from the settings' declarations (infra/schema.py,
# and the governance and bootstrap projects' own); editors with the YAML language server
# validate and complete the stack files with them.
schema: $(STAMP)
	$(PY) -m infra.schema
	$(PY) governance/governance_config.py
	$(PY) bootstrap/bootstrap_config.py

# tests/test_ml_project.py runs the real dvc from $(DVC_VENV) against a local S3 emulator.
test: lint lint-ci audit $(DVC_STAMP)
	$(PY) -m pytest --cov --cov-report=term --cov-fail-under=90

# The prod component diagram in README.md (tests fail when it is stale).
diagram: $(STAMP)
	$(PY) -m infra.diagram README.md

# The README's resource counts per stack (tests/test_readme.py fails when they are stale).
readme-counts: $(STAMP)
	$(PY) -m infra.counts README.md

bench: $(STAMP)
	$(PY) -m benchmarks
	$(MAKE) --no-print-directory bench-serving

# The model server under wrk (Debian's package; installed here when missing) on 127.0.0.1.
bench-serving: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || apt-get install -y -qq wrk || \
		{ apt-get update -qq && apt-get install -y -qq wrk; } || \
		{ echo "wrk is needed: apt-get install -y wrk"; exit 1; }
	$(PY) -m benchmarks.serving

clean:
	rm -rf $(VENV) $(DVC_VENV) $(AUDIT_VENV) .pytest_cache .ruff_cache .coverage htmlcov build dist *.egg-info
