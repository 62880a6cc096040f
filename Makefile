# Two entry points for a fresh machine: `make synth` and `make test`.
# Prerequisites: Python 3.11+, Node.js 20+ (jsii, cdktf CLI); Terraform >= 1.10 for plan/validate.
SHELL := /bin/bash
PYTHON ?= python3
# ENGINE picks the toolchain: cdktf (default) or cdktn (CDK Terrain); see README "Engines".
ENGINE ?= cdktf
VENV_cdktf := .venv
VENV_cdktn := .venv-cdktn
VENV := $(VENV_$(ENGINE))
$(if $(VENV),,$(error ENGINE=$(ENGINE) is not an engine: use cdktf or cdktn))
export ECS_ENGINE := $(ENGINE)
SCAN_VENV := .venv-scan
AWSCDK_VENV := .venv-awscdk
PY := $(VENV)/bin/python
ENV ?= dev
STACK ?=
TF_STACK_DIR = cdktf.out/stacks/$(STACK)-$(ENV)
BENCH_OUT := bench/results/latest.jsonl
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 20
export CHECKPOINT_DISABLE ?= 1
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: synth test test-synth lint lint-report format-tree venv venv-cdktn scan-venv awscdk-venv node-deps checkov golden docs bench demo plan validate images clean
.PHONY: bootstrap deploy secrets verify provider terraform-cli rehearse

# One venv per engine, each from its own exact pins.
REQUIREMENTS_cdktf := requirements.txt requirements-dev.txt
REQUIREMENTS_cdktn := requirements-cdktn.txt requirements-cdktn-dev.txt
$(VENV)/.installed: $(REQUIREMENTS_$(ENGINE))
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "missing prerequisite: Python 3.11+ ($(PYTHON) is missing or older; PYTHON=python3.12 make ... picks another)" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(lastword $(REQUIREMENTS_$(ENGINE)))
	touch $@

$(SCAN_VENV)/.installed: requirements-scan.txt
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/python -m pip install --quiet -r requirements-scan.txt
	touch $@

# The cdktf CLI pinned by package-lock.json (npx cdktf ...); npm writes the hidden lockfile.
node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { \
	  echo "missing prerequisite: Node.js 20+ with npm (https://nodejs.org), for the cdktf CLI" >&2; exit 2; }
	npm ci --no-audit --no-fund
	@touch $@

venv: $(VENV)/.installed

venv-cdktn:
	@$(MAKE) --no-print-directory venv ENGINE=cdktn

scan-venv: $(SCAN_VENV)/.installed

node-deps: node_modules/.package-lock.json

## synth: synthesize every environment (or ECS_ENVS=dev,prod) into cdktf.out with ENGINE; no AWS access
synth: venv
	$(PY) main.py
	@ls cdktf.out/stacks

## test: the whole test suite, checkov and the real cdktf CLI included (what CI runs), on ENGINE,
## under coverage: a line/branch table per package; a figure below its floor fails (pyproject.toml)
test: venv scan-venv node-deps
	@rm -f .coverage .coverage.* coverage.json; \
	$(PY) -m coverage run -m pytest tests -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "FAIL: pytest collected no tests" >&2; fi; \
	$(PY) -m coverage combine -q && $(PY) -m coverage json -q -o coverage.json \
	  && $(PY) -m devtools.coverage_gate coverage.json || { [ $$status -ne 0 ] || status=1; }; \
	exit $$status

## test-synth: the suite less config_agent/ and samples/, which import no engine (CI: ENGINE=cdktn)
test-synth: venv scan-venv
	@$(PY) -m pytest tests -q --ignore=tests/config_agent --ignore=tests/samples; status=$$?; \
	if [ $$status -eq 5 ]; then echo "FAIL: pytest collected no tests" >&2; fi; exit $$status

# Linters run from the default engine's venv whatever ENGINE is: the type stubs describe cdktf.
LINT_PY := $(VENV_cdktf)/bin/python
WHOLE_TREE := --config 'include = ["*.py", "*.pyi", "pyproject.toml"]'

## lint: ruff check, ruff format --check and mypy (strict), configured in pyproject.toml: 0 findings
lint:
	@$(MAKE) --no-print-directory venv ENGINE=cdktf
	$(LINT_PY) -m engine.stubs
	$(LINT_PY) -m ruff check .
	$(LINT_PY) -m ruff format --check .
	$(LINT_PY) -m mypy

## lint-report: what the phase-1 baseline of issue 25 hides: findings by rule, mypy errors by package
lint-report:
	@$(MAKE) --no-print-directory venv ENGINE=cdktf
	@$(LINT_PY) -m engine.stubs
	-@$(LINT_PY) -m ruff check $(WHOLE_TREE) --statistics .
	-@$(LINT_PY) -m ruff format $(WHOLE_TREE) --config 'format.exclude = []' --check . | tail -1
	@tmp=$$(mktemp -d); $(LINT_PY) -m devtools.lint_baseline without $$tmp/pyproject.toml; \
	$(LINT_PY) -m mypy --config-file $$tmp/pyproject.toml > $$tmp/mypy.txt; \
	grep ': error:' $$tmp/mypy.txt | grep -oE '^[a-z_]+(\.py)?' | sort | uniq -c | sort -rn; \
	tail -1 $$tmp/mypy.txt; \
	rm -rf $$tmp

## format-tree: issue 25 phase 2, once every branch is merged: ruff's safe fixes + formatter everywhere
format-tree:
	@$(MAKE) --no-print-directory venv ENGINE=cdktf
	$(LINT_PY) -m devtools.lint_baseline remove
	$(LINT_PY) -m ruff check --fix --exit-zero --silent .
	$(LINT_PY) -m ruff format .
	@echo "left for hand fixes (then \`make lint\`):"
	-@$(LINT_PY) -m ruff check --statistics .

## checkov: scan the synthesized stacks (inline skips applied; see README "Security")
checkov: synth scan-venv
	$(PY) scripts/checkov_scan.py cdktf.out/stacks

## golden: rewrite the reviewed infrastructure summary after an intended change
golden: synth
	$(PY) scripts/summarize.py cdktf.out/stacks --write tests/golden/summary.json

## docs: regenerate README's architecture diagram, checkov skip list and env tables from the synth and table
docs: synth
	$(PY) scripts/diagram.py cdktf.out/stacks --readme README.md
	$(PY) scripts/checkov_scan.py cdktf.out/stacks --readme README.md
	$(PY) scripts/env_tables.py --readme README.md

## awscdk-venv: venv of the AWS CDK app that `make bench` times beside ours (bench/awscdk/); bench only
awscdk-venv: $(AWSCDK_VENV)/.installed

$(AWSCDK_VENV)/.installed: bench/awscdk/requirements.txt
	$(PYTHON) -m venv $(AWSCDK_VENV)
	$(AWSCDK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AWSCDK_VENV)/bin/python -m pip install --quiet -r bench/awscdk/requirements.txt
	touch $@

## bench: synth and config-agent benchmarks; one JSON line per figure, also kept in $(BENCH_OUT) (untracked)
bench: venv
	@mkdir -p $(dir $(BENCH_OUT))
	@set -o pipefail; { $(PY) bench/synth_bench.py && $(PY) bench/agent_bench.py; } | tee $(BENCH_OUT)

## demo: push a secret and a config change through the agent against a local AWS emulator
demo: venv
	$(PY) scripts/demo.py

## plan: terraform plan one stack (needs terraform, AWS credentials): make plan STACK=network ENV=dev
plan: venv
	@$(PY) scripts/terraform_stacks.py check --stack '$(STACK)' --env '$(ENV)'
	env -u ECS_ENVS $(PY) main.py
	terraform -chdir=$(TF_STACK_DIR) init -input=false
	terraform -chdir=$(TF_STACK_DIR) plan -input=false -out=tfplan
	@echo "apply with: terraform -chdir=$(TF_STACK_DIR) apply tfplan"

## validate: terraform init -backend=false + validate for every synthesized stack (README "Validate")
validate: venv
	@$(PY) scripts/terraform_stacks.py check
	@$(MAKE) --no-print-directory provider
	$(PY) main.py
	@$(PY) scripts/terraform_stacks.py validate cdktf.out --cli-config "$$($(PY) scripts/go_tools.py config)"

## provider: build the hashicorp/aws the stacks pin from Go modules into ~/.cache/ecs-cdktf (no-op when built)
provider: venv
	@$(PY) scripts/go_tools.py provider

## terraform-cli: terraform >= 1.10 from PATH, else build OpenTofu from Go modules (README "Validate")
terraform-cli: venv
	@$(PY) scripts/terraform_stacks.py cli

## rehearse: plan, apply and destroy ENV's stacks with the built provider against moto (README "Rehearse")
rehearse: venv
	@$(PY) scripts/terraform_stacks.py check --stack network --env '$(ENV)'
	@$(MAKE) --no-print-directory provider
	env -u ECS_ENVS ECS_ENVS='$(ENV)' $(PY) main.py
	$(PY) scripts/rehearse.py '$(ENV)' cdktf.out

## images: build and push ENV's images to its registry stack's ECR repositories (docker, aws CLI); DRY_RUN=1 prints the commands
images: venv
	$(PY) scripts/images.py $(ENV) $(DRY_FLAG)

# First deploy (README "First deploy"): bootstrap once per env, then deploy; secrets, verify.
DRY_RUN ?=
DRY_FLAG = $(if $(filter 1 yes true,$(DRY_RUN)),--dry-run,)

## bootstrap: ENV's state bucket and deploy role (bootstrap-<env>), as an admin of its account; idempotent; DRY_RUN=1 prints the phase
bootstrap: venv
	$(PY) scripts/bootstrap.py $(ENV) $(DRY_FLAG)

## deploy: network, cluster, config, registry, images, preflight, services of ENV, in order; DRY_RUN=1 prints the steps
deploy: venv
	$(PY) scripts/deploy.py $(ENV) $(DRY_FLAG)

## secrets: list ENV's secrets and which lack a value; SET=<service>/<name> sets one from stdin or FILE=path (GENERATE=1: random)
secrets: venv
	@$(PY) scripts/env_secrets.py $(ENV) $(if $(SET),--set '$(SET)') $(if $(FILE),--file '$(FILE)') $(if $(GENERATE),--generate)

## verify: smoke check of a deployed ENV (services steady, no alarm, ALB health, agent); exit 1 naming failures
verify: venv
	$(PY) scripts/verify.py $(ENV) $(if $(URL),--url '$(URL)')

clean:
	rm -rf cdktf.out cdktf.bootstrap.out .pytest_cache .coverage .coverage.* coverage.json .mypy_cache .ruff_cache engine/core.pyi engine/aws/*.pyi
