# `make example` sets everything up on a fresh machine and runs the example experiment;
# `make test` runs the whole test suite. Both install into ./.venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
export WANDB_ERROR_REPORTING := false

.PHONY: setup example test unit lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

example: setup
	$(VENV)/bin/sweepops deploy base.yml -e sweep_backend=offline -e allow_duplicate=true --wait --timeout 600
	@echo "sweepops is in $(VENV)/bin: run 'source $(VENV)/bin/activate' to have it on your PATH"

test: setup
	$(PY) -m pytest tests

unit: setup
	$(PY) -m pytest tests/unit

lint: setup
	$(VENV)/bin/ruff check sweepops library action_plugins filter_plugins tests bench
	$(VENV)/bin/mypy sweepops
	$(VENV)/bin/ansible-lint --profile production

bench: setup
	$(PY) bench/agent_overhead.py

clean:
	rm -rf $(VENV) .sweepops
