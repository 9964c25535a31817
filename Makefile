# The two commands of the README: `make run` and `make test`. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STORE_STAMP := .venv-store/.installed
# The web's front-end libraries (htmx, Leaflet) from the npm registry, exactly as package-lock.json says.
WEB_ASSETS := services/web/node_modules/.installed

.PHONY: run test lint types unit integration e2e bench chaos clean store chromium

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# The local store process (mongoeco, Python 3.13 from pyenv) in its own environment, .venv-store.
$(STORE_STAMP): $(STAMP) devstack/docstore-requirements.txt devstack/docstore_server.py
	@$(BIN)/python -m devstack.docstore install

store: $(STORE_STAMP)

$(WEB_ASSETS): services/web/package.json services/web/package-lock.json
	@command -v npm >/dev/null || { apt-get update && apt-get install -y npm; }
	@cd services/web && npm ci --no-audit --no-fund --loglevel=error
	@touch $(WEB_ASSETS)


# The browser tests drive Debian's Chromium (a test tool's own browser download cannot work here).
chromium:
	@command -v chromium >/dev/null || { apt-get update && apt-get install -y chromium; }

# The official AsyncAPI parser (npm) the tests validate the served document with; exact versions
# from package-lock.json, no install scripts (one dependency's would phone home).
ASYNCAPI_CHECK := tests/interop/asyncapi
NODE_STAMP := $(ASYNCAPI_CHECK)/node_modules/.installed

$(NODE_STAMP): $(ASYNCAPI_CHECK)/package.json $(ASYNCAPI_CHECK)/package-lock.json
	@command -v npm >/dev/null || { apt-get update && apt-get install -y npm; }
	@cd $(ASYNCAPI_CHECK) && SCARF_ANALYTICS=false npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

# `make run`'s local S3, s3rver (npm), keeping photos on disk in var/s3 (devstack/s3.py); exact
# versions from package-lock.json, no install scripts (none of it needs one).
S3RVER_DIR := devstack/s3rver
S3RVER_STAMP := $(S3RVER_DIR)/node_modules/.installed

$(S3RVER_STAMP): $(S3RVER_DIR)/package.json $(S3RVER_DIR)/package-lock.json
	@command -v npm >/dev/null || { apt-get update && apt-get install -y npm; }
	@cd $(S3RVER_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $(S3RVER_STAMP)

install: $(STAMP) $(STORE_STAMP) $(WEB_ASSETS) $(NODE_STAMP) $(S3RVER_STAMP)

rabbitmq:
	@$(BIN)/python -m devstack.rabbit

run: $(STAMP) $(STORE_STAMP) $(WEB_ASSETS) $(S3RVER_STAMP)
	@$(BIN)/python -m devstack

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) $(STORE_STAMP) $(WEB_ASSETS) $(NODE_STAMP) $(S3RVER_STAMP) chromium rabbitmq lint types
	$(BIN)/pytest -q -p no:cacheprovider

bench: $(STAMP) $(STORE_STAMP) rabbitmq
	$(BIN)/python -m bench $(BENCH_ARGS)

chaos: $(STAMP) $(STORE_STAMP) rabbitmq
	$(BIN)/python -m bench.chaos

clean:
	rm -rf $(VENV) .venv-store var .pytest_cache .mypy_cache .ruff_cache services/web/node_modules tests/interop/asyncapi/node_modules $(S3RVER_DIR)/node_modules
