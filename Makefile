# Every target creates the virtualenv (.venv) and installs into it when it is missing or stale.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test unit lint typecheck validate bench image deploy clean

install: $(STAMP)

$(STAMP): tasks/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e 'tasks[local,dev]'
	@touch $@

demo: $(STAMP)
	$(BIN)/bamboohr-moodle-sync local-run $(ARGS)

# pytest exits 5 when it collected nothing: that is a broken suite here, never a pass.
test: lint typecheck validate
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is broken" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

validate: $(STAMP)
	$(BIN)/sam validate --lint
	$(BIN)/sam build --cached

bench: $(STAMP)
	$(BIN)/python -m bench.run $(ARGS)

image:
	docker build -t bamboohr-moodle-sync:latest tasks

deploy:
	sam build && sam deploy $(ARGS)

clean:
	rm -rf $(VENV) .aws-sam out
