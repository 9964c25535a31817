# The two commands of the README: `make run` and `make test`. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint types unit integration e2e bench chaos clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# The official AsyncAPI parser (npm) the tests validate the served document with; exact versions
# from package-lock.json, no install scripts (one dependency's would phone home).
ASYNCAPI_CHECK := tests/interop/asyncapi
NODE_STAMP := $(ASYNCAPI_CHECK)/node_modules/.installed

$(NODE_STAMP): $(ASYNCAPI_CHECK)/package.json $(ASYNCAPI_CHECK)/package-lock.json
	@cd $(ASYNCAPI_CHECK) && SCARF_ANALYTICS=false npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

rabbitmq:
	@$(BIN)/python -m devstack.rabbit

run: $(STAMP)
	@$(BIN)/python -m devstack

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) $(NODE_STAMP) rabbitmq lint types
	$(BIN)/pytest -q -p no:cacheprovider

bench: $(STAMP) rabbitmq
	$(BIN)/python -m bench $(BENCH_ARGS)

chaos: $(STAMP) rabbitmq
	$(BIN)/python -m bench.chaos

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
