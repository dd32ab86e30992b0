# Entry points. `make demo` and `make test` work on a fresh machine (Rust and Python 3 present).
CARGO ?= cargo
PYTHON ?= python3

.PHONY: selftest help demo demo-mocks test test-deps lint fmt build serve bench bench-mocks bench-segments bench-loadgen bench-deps config-check scenarios
.PHONY: test-load-segments static images up down logs ps test-load-baseline test-load-api test-load-rag test-load-mcp test-load regress record-baseline require-stack

# Load targets: RUN_TIME=30s fits each plan into that time (empty: the scenario's own length);
# OUT=dir is the results directory; BASELINES holds one stored baseline per scenario, which the
# first passing run of each load target records and `regress` compares against.
RUN_TIME ?=
OUT ?= results
BASELINES ?= $(OUT)/baselines

# Static release binaries and the FROM-scratch images built from them.
STATIC_TARGET := x86_64-unknown-linux-gnu
STATIC_DIR := target/$(STATIC_TARGET)/release
IMAGE_TAG ?= dev
MOCKS_IMAGE ?= aistack-mocks:$(IMAGE_TAG)
LOADSUITE_IMAGE ?= aistack-loadsuite:$(IMAGE_TAG)
export MOCKS_IMAGE LOADSUITE_IMAGE

# `docker compose` (v2) when present, else `docker-compose` (v1 >= 1.28).
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
COMPOSE_FILE := compose/docker-compose.yml
DC := $(COMPOSE) -f $(COMPOSE_FILE) -p aistack
GATEWAY_URL ?= http://127.0.0.1:8000
RAG_URL ?= http://127.0.0.1:8002
MCP_URL ?= http://127.0.0.1:8020
LOADSUITE := ./target/release/loadsuite
RUN_TIME_ARG = $(if $(RUN_TIME),--run-time $(RUN_TIME),)
STACK_TARGETS = --target gateway=$(GATEWAY_URL) --target rag=$(RAG_URL) --target mcp=$(MCP_URL)

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

test: test-deps images ## every test: unit, in-process HTTP, CLI, property, Python clients, Locust, containers
	$(CARGO) test --workspace

test-deps: ## what the tests drive: the openai and mcp Python clients, Locust, headless Chromium, a compose command
	@$(PYTHON) -c "import openai, mcp.client, locust" 2>/dev/null || $(PYTHON) -m pip install -q -r mocks/tests/python/requirements.txt
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
	@docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || (apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null)

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

bench: bench-mocks bench-loadgen bench-segments ## every benchmark; figures go to bench/results/

bench-deps:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)

bench-mocks: bench-deps ## mock requests/s beside a bare axum server, with wrk
	bash bench/mocks.sh

bench-segments: ## one loadsuite process vs two execution segments (merged), pinned and shared placements
	$(PYTHON) bench/segments.py

bench-loadgen: bench-deps ## loadsuite beside wrk on one core each, and its memory at 1,000 / 10,000 users
	$(PYTHON) bench/loadgen.py

selftest: ## prove the pipeline detects every failure mode of the catalog (embedded mocks)
	$(CARGO) run --release -q -p loadsuite -- selftest --embedded --out $(OUT)/selftest

static: ## statically linked release binaries (what the images hold)
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --target $(STATIC_TARGET) -p mocks -p loadsuite

images: static ## the FROM-scratch images: $(MOCKS_IMAGE) and $(LOADSUITE_IMAGE)
	bash compose/build-images.sh $(STATIC_DIR) $(MOCKS_IMAGE) $(LOADSUITE_IMAGE)

up: ## start gateway :8000, rag :8002, mcp :8020 as containers and wait until healthy (GATEWAY_PROFILE=... etc.)
	@docker image inspect $(MOCKS_IMAGE) >/dev/null 2>&1 || { echo "no image $(MOCKS_IMAGE): run 'make images' first"; exit 2; }
	$(DC) up -d gateway rag mcp
	@bash compose/wait-healthy.sh "$(DC)" 60

down: ## stop and remove the stack's containers
	$(DC) --profile loadtest down --remove-orphans

logs: ## follow the stack's logs
	$(DC) logs -f --tail 100

ps: ## the stack's containers and their health
	$(DC) ps

require-stack: build-loadsuite
	@./target/release/mocks healthcheck $(GATEWAY_URL)/health >/dev/null 2>&1 && \
	 ./target/release/mocks healthcheck $(RAG_URL)/health >/dev/null 2>&1 && \
	 ./target/release/mocks healthcheck $(MCP_URL)/health >/dev/null 2>&1 || { \
	  echo "The stack is not running (no healthy answer from $(GATEWAY_URL), $(RAG_URL), $(MCP_URL))."; \
	  echo "Start it with:  make images && make up     (or without Docker: make serve, in another terminal)"; \
	  exit 2; }

build-loadsuite:
	@$(CARGO) build --release -q -p loadsuite -p mocks

# One load target: scenario $(1) into $(OUT)/$(1): CSVs, run.json and reports. The first run
# that passes is stored as $(BASELINES)/$(1).json; the exit status is the run's.
define load_run
	@$(LOADSUITE) run $(1) $(STACK_TARGETS) $(RUN_TIME_ARG) --out $(OUT)/$(1); status=$$?; \
	$(LOADSUITE) report $(OUT)/$(1) >/dev/null; \
	echo "results and report: $(OUT)/$(1) (summary.md, report.html)"; \
	if [ ! -f $(BASELINES)/$(1).json ] && [ $$status -eq 0 ]; then \
	  mkdir -p $(BASELINES) && $(LOADSUITE) baseline --from $(OUT)/$(1) --out $(BASELINES)/$(1).json; fi; \
	exit $$status
endef

test-load-baseline: require-stack ## the baseline scenario (a light mix of every service)
	$(call load_run,baseline)

test-load-api: require-stack ## progressive gateway load (10 -> 50 -> 100 users)
	$(call load_run,api-progressive)

test-load-rag: require-stack ## progressive RAG load
	$(call load_run,rag-progressive)

test-load-mcp: require-stack ## progressive MCP load
	$(call load_run,mcp-progressive)

test-load: test-load-api test-load-rag test-load-mcp ## the three progressive plans in sequence

test-load-segments: build-loadsuite ## rehearse distributed load: 3 segment containers + merge (SEGMENT_SCENARIO=, RUN_TIME=)
	@docker image inspect $(LOADSUITE_IMAGE) >/dev/null 2>&1 || { echo "no image $(LOADSUITE_IMAGE): run 'make images' first"; exit 2; }
	@mkdir -p $(OUT)/segments
	@export RESULTS_DIR=$(abspath $(OUT)) LOADSUITE_USER=$$(id -u):$$(id -g) START_AT=$$(( $$(date +%s) + 5 )) RUN_TIME=$(or $(RUN_TIME),30s); \
	$(DC) --profile segments up -d merge && \
	code=$$(docker wait $$($(DC) --profile segments ps -q merge)) && \
	[ "$$code" = 0 ] || { $(DC) --profile segments logs merge segment-0 segment-1 segment-2; exit 1; }
	@$(LOADSUITE) report $(OUT)/segments/merged >/dev/null; \
	echo "merged run and report: $(OUT)/segments/merged (segments in $(OUT)/segments/segment-*)"

# The newest results directory under $(OUT) (or RUN=dir).
LAST_RUN = $${RUN:-$$(ls -td $(OUT)/*/ 2>/dev/null | while read d; do [ -f "$$d/run.json" ] && echo "$${d%/}" && break; done)}

record-baseline: build-loadsuite ## store the last run (or RUN=dir) as its scenario's baseline, replacing it
	@run=$(LAST_RUN); [ -n "$$run" ] || { echo "no run under $(OUT)/: run a make test-load-* target first"; exit 2; }; \
	mkdir -p $(BASELINES) && $(LOADSUITE) baseline --from $$run --out $(BASELINES)/$$(basename $$run).json

regress: build-loadsuite ## compare the last run (or RUN=dir) with its stored baseline; exit 1 on regression
	@run=$(LAST_RUN); [ -n "$$run" ] || { echo "no run under $(OUT)/: run a make test-load-* target first"; exit 2; }; \
	base=$(BASELINES)/$$(basename $$run).json; \
	[ -f $$base ] || { echo "no stored baseline $$base: run 'make test-load-$$(basename $$run)' or 'make record-baseline RUN=$$run' first"; exit 2; }; \
	$(LOADSUITE) compare --baseline $$base --run $$run
