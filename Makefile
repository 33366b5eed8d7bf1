# Every target creates the virtualenv (.venv) and installs into it what that target needs, when it is missing
# or stale: `make demo` only the offline run (the `local` extra), every other target the development toolchain.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCAL_STAMP := $(VENV)/.installed-local
DEV_STAMP   := $(VENV)/.installed-dev

CHECKOV_VENV := .venv-checkov
CHECKOV      := $(CHECKOV_VENV)/bin/checkov

# The project's own sam calls send no telemetry (and print no notice about it).
export SAM_CLI_TELEMETRY := 0

.PHONY: install demo test lint typecheck validate security bench image deploy clean

install: $(DEV_STAMP) $(CHECKOV_VENV)/.installed

$(VENV)/.created:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Upgrading pip in $(VENV)"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@touch $@

$(LOCAL_STAMP): tasks/pyproject.toml $(VENV)/.created
	@echo "Installing bamboohr-moodle-sync with the local extra into $(VENV): moto, the JSONata engine (about a minute)"
	@$(BIN)/python -m pip install --quiet -e 'tasks[local]'
	@touch $@

$(DEV_STAMP): tasks/pyproject.toml $(VENV)/.created
	@echo "Installing bamboohr-moodle-sync with the local and dev extras into $(VENV):"
	@echo "  moto, pytest, ruff, mypy and stubs, SAM CLI, cfn-lint, matplotlib (a few minutes on a first run)"
	@$(BIN)/python -m pip install --quiet -e 'tasks[local,dev]'
	@touch $@ $(LOCAL_STAMP)

demo: $(LOCAL_STAMP)
	$(BIN)/bamboohr-moodle-sync local-run $(ARGS)

# pytest exits 5 when it collected nothing: that is a broken suite here, never a pass.
test: lint typecheck validate security
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is broken" >&2; exit 1; fi; exit $$rc

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

validate: $(DEV_STAMP)
	$(BIN)/sam validate --lint
	$(BIN)/sam build --cached
	$(BIN)/python -m bamboohr_moodle_sync.local.aws.asl_validator

# asl-validator (npm; pinned by tools/asl-validator/package-lock.json) checks the definition as deployed: the
# JSONata-mode schema, every {% %} expression compiled, every Next target present. CI has Node and npm only.
ASL_VALIDATOR := tools/asl-validator/node_modules/.bin/asl-validator
validate: $(ASL_VALIDATOR)
$(ASL_VALIDATOR): tools/asl-validator/package-lock.json
	@echo "Installing asl-validator 4.0.0 into tools/asl-validator/node_modules (npm ci, from its package-lock.json)"
	@cd tools/asl-validator && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# checkov pins an older boto3 than aws-sam-cli and moto need, so it gets an environment of its own.
$(CHECKOV_VENV)/.installed:
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@echo "Installing checkov into $(CHECKOV_VENV) (its own environment: it pins an older boto3)"
	@$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	@$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==3.3.30
	@touch $@

security: $(CHECKOV_VENV)/.installed
	$(CHECKOV) -f template.yaml -f infra/ecr.yaml --framework cloudformation --skip-download --compact --quiet

bench: $(DEV_STAMP)
	$(BIN)/python -m bench.run $(ARGS)

image:
	docker build -t bamboohr-moodle-sync:latest tasks

deploy: $(DEV_STAMP)
	$(BIN)/sam build && $(BIN)/sam deploy $(ARGS)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .aws-sam out
