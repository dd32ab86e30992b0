# Entry points. `make demo` and `make test` work on a fresh machine (Rust and Python 3 present).
CARGO ?= cargo
PYTHON ?= python3

.PHONY: selftest help demo demo-mocks test test-deps lint fmt build serve bench bench-mocks bench-loadgen bench-deps config-check scenarios

RUN_TIME ?= 10s
OUT ?= results

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

demo: ## embedded (no Docker): a baseline, a progressive run, and the unknown-model reproduction
	$(CARGO) build --release -q -p loadsuite
	./target/release/loadsuite run baseline --embedded --run-time 10s --out $(OUT)/demo-baseline
	./target/release/loadsuite run api-progressive --embedded --run-time 15s --out $(OUT)/demo-api-progressive
	-./target/release/loadsuite run repro-unknown-model --embedded --no-preflight --run-time 5s --out $(OUT)/demo-repro-unknown-model
	@echo "results: $(OUT)/demo-baseline $(OUT)/demo-api-progressive $(OUT)/demo-repro-unknown-model (each has run.json and Locust CSVs)"

demo-mocks: ## a short tour of the mocks alone: unknown model, an injected fault, journal, RAG, MCP
	$(CARGO) run --release -q -p mocks -- demo

scenarios: ## list the shipped scenarios
	$(CARGO) run --release -q -p loadsuite -- scenarios

test: test-deps ## every test: unit, in-process HTTP, CLI, property, official Python clients, Locust
	$(CARGO) test --workspace

test-deps: ## what the tests drive: the openai and mcp Python clients, Locust, headless Chromium
	@$(PYTHON) -c "import openai, mcp.client, locust" 2>/dev/null || $(PYTHON) -m pip install -q -r mocks/tests/python/requirements.txt
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

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

bench: bench-mocks bench-loadgen ## every benchmark; figures go to bench/results/

bench-deps:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)

bench-mocks: bench-deps ## mock requests/s beside a bare axum server, with wrk
	bash bench/mocks.sh

bench-loadgen: bench-deps ## loadsuite beside wrk on one core each, and its memory at 1,000 / 10,000 users
	$(PYTHON) bench/loadgen.py

selftest: ## prove the pipeline detects every failure mode of the catalog (embedded mocks)
	$(CARGO) run --release -q -p loadsuite -- selftest --embedded --out $(OUT)/selftest
