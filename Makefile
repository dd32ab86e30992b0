# Entry points. `make demo` and `make test` work on a fresh machine (Rust and Python 3 present).
CARGO ?= cargo
PYTHON ?= python3

.PHONY: help demo test test-deps lint fmt build serve bench bench-mocks bench-deps config-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

demo: ## a short tour of the mocks on free local ports, in-process (no Docker)
	$(CARGO) run --release -q -p mocks -- demo

test: test-deps ## every test: unit, in-process HTTP, CLI, property, official Python clients
	$(CARGO) test --workspace

test-deps: ## the Python clients the tests drive (openai)
	@$(PYTHON) -c "import openai, mcp.client, locust" 2>/dev/null || $(PYTHON) -m pip install -q -r mocks/tests/python/requirements.txt

lint: ## formatting and clippy, warnings are errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

build: ## release binaries
	$(CARGO) build --release --workspace

serve: ## run the mock stack on 127.0.0.1 (gateway :8000)
	$(CARGO) run --release -q -p mocks -- serve

config-check: ## validate a config file: make config-check CONFIG=path.toml
	$(CARGO) run --release -q -p mocks -- config check $(CONFIG)

bench: bench-mocks ## every benchmark; figures go to bench/results/

bench-deps:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)

bench-mocks: bench-deps ## mock requests/s beside a bare axum server, with wrk
	bash bench/mocks.sh
