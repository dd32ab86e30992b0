# Entry points. `make demo` and `make test` work on a fresh machine (Rust and Python 3 present).
CARGO ?= cargo
PYTHON ?= python3

.PHONY: selftest help demo demo-mocks test test-deps lint fmt build serve bench bench-mocks bench-segments bench-loadgen bench-streams bench-deps config-check scenarios
.PHONY: test-load-segments static images up down logs ps test-load-baseline test-load-api test-load-rag test-load-mcp test-load-agent test-load regress record-baseline require-stack
.PHONY: nightly nightly-baseline bench-verdicts soak

# Load targets: RUN_TIME=30s fits each plan into that time (empty: the scenario's own length);
# OUT=dir is the results directory; BASELINES holds one stored baseline per scenario, recorded by
# `record-baseline` from RUNS runs each, which the load targets and `regress` compare against.
RUN_TIME ?=
OUT ?= results
BASELINES ?= $(OUT)/baselines
RUNS ?= 3
SCENARIOS ?= baseline api-progressive rag-progressive mcp-progressive agent-progressive

# Where cargo builds (CARGO_TARGET_DIR when set, as cargo itself does).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
ifdef CARGO_TARGET_DIR
export CARGO_TARGET_DIR
endif
RELEASE_DIR := $(TARGET_DIR)/release

# Static release binaries and the FROM-scratch images built from them.
STATIC_TARGET := x86_64-unknown-linux-gnu
STATIC_DIR := $(TARGET_DIR)/$(STATIC_TARGET)/release
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
LOADSUITE ?= $(RELEASE_DIR)/loadsuite
RUN_TIME_ARG = $(if $(RUN_TIME),--run-time $(RUN_TIME),)
STACK_TARGETS = --target gateway=$(GATEWAY_URL) --target rag=$(RAG_URL) --target mcp=$(MCP_URL)

help: ## list the targets (values as this make sees them)
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}' \
	  | sed -e 's|$$(MOCKS_IMAGE)|$(MOCKS_IMAGE)|g' -e 's|$$(LOADSUITE_IMAGE)|$(LOADSUITE_IMAGE)|g'

demo: ## embedded (no Docker): a baseline, a progressive run, and the unknown-model reproduction
	@echo "building the release binaries into $(RELEASE_DIR) (the first time takes a few minutes)..."
	@$(CARGO) build --release -q -p loadsuite
	$(LOADSUITE) run baseline --embedded --run-time 10s --out $(OUT)/demo-baseline --overwrite
	$(LOADSUITE) run api-progressive --embedded --run-time 15s --out $(OUT)/demo-api-progressive --overwrite
	@echo "next, on purpose: the unknown-model reproduction (every chat request names a model the gateway does not serve; exit 1 expected)"
	@$(LOADSUITE) run repro-unknown-model --embedded --no-preflight --run-time 5s --out $(OUT)/demo-repro-unknown-model --overwrite; \
	  code=$$?; if [ $$code = 1 ]; then echo "exit 1, as expected: the run failed and says why (model_not_found)"; \
	  else echo "unexpected exit $$code from the reproduction"; exit 1; fi
	@echo "results: $(OUT)/demo-baseline $(OUT)/demo-api-progressive $(OUT)/demo-repro-unknown-model (each has run.json and Locust CSVs)"

demo-mocks: ## a short tour of the mocks alone: unknown model, an injected fault, journal, RAG, MCP
	$(CARGO) run --release -q -p mocks -- demo

scenarios: ## list the shipped scenarios
	$(CARGO) run --release -q -p loadsuite -- scenarios

test: test-deps images ## every test: unit, in-process HTTP, CLI, property, Python clients, Locust, containers
	$(CARGO) test --workspace
	$(CARGO) test -p loadsuite --no-default-features --lib embedded

test-deps: ## what the tests drive: the openai and mcp Python clients, Locust, headless Chromium, a compose command
	@$(PYTHON) -c "import openai, mcp.client, locust" 2>/dev/null || $(PYTHON) -m pip install -q -r mocks/tests/python/requirements.txt
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
	@docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || (apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null)

lint: ## formatting and clippy, warnings are errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p loadsuite --no-default-features --lib --bins -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

build: ## release binaries
	$(CARGO) build --release --workspace

serve: ## run the mock stack on 127.0.0.1 (gateway :8000)
	$(CARGO) run --release -q -p mocks -- serve

config-check: ## validate a config file: make config-check CONFIG=path.toml
	$(CARGO) run --release -q -p mocks -- config check $(CONFIG)

bench: bench-mocks bench-loadgen bench-streams bench-segments bench-agent bench-verdicts ## every benchmark; figures go to bench/results/

bench-deps:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)

bench-mocks: bench-deps ## mock requests/s beside a bare axum server (wrk), and the gateway's streamed tokens per CPU-second beside a bare axum SSE server
	bash bench/mocks.sh
	$(PYTHON) bench/streams.py gateway

bench-segments: ## one loadsuite process vs two execution segments (merged), pinned and shared placements
	$(PYTHON) bench/segments.py

bench-loadgen: bench-deps ## loadsuite beside wrk on one core each, and its memory at 1,000 / 10,000 users
	$(PYTHON) bench/loadgen.py

bench-streams: ## 1,000 / 5,000 / 10,000 concurrent SSE streams: TTFT and gaps against the configured pacing, CPU and memory of the gateway and loadsuite (one core each), Locust beside it
	$(PYTHON) bench/streams.py

bench-agent: ## agent turns/s, loadsuite CPU per turn and its overhead per step at 100 users (mocks and loadsuite on one core each)
	$(PYTHON) bench/agent.py

SOAK_TIME ?= 30m
soak: ## a long mixed run against `mocks serve`: memory, store sizes, the mocks' own latency drift, counts (SOAK_TIME=30m)
	SOAK_TIME=$(SOAK_TIME) $(PYTHON) bench/soak.py

AA ?= 100
POWER ?= 20
bench-verdicts: ## verdicts' false-alarm rate (A/A) and power on a realistic noisy service (embedded; ~30 min; AA=, POWER=)
	$(CARGO) run --release -q -p loadsuite -- calibrate --embedded --aa $(AA) --power $(POWER) --out $(OUT)/calibrate --report bench/results

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
	@$(RELEASE_DIR)/mocks healthcheck $(GATEWAY_URL)/health >/dev/null 2>&1 && \
	 $(RELEASE_DIR)/mocks healthcheck $(RAG_URL)/health >/dev/null 2>&1 && \
	 $(RELEASE_DIR)/mocks healthcheck $(MCP_URL)/health >/dev/null 2>&1 || { \
	  echo "The stack is not running (no healthy answer from $(GATEWAY_URL), $(RAG_URL), $(MCP_URL))."; \
	  echo "Start it with:  make images && make up     (or without Docker: make serve, in another terminal)"; \
	  exit 2; }

build-loadsuite:
	@echo "building the release binaries into $(RELEASE_DIR) (the first time takes a few minutes)..."
	@$(CARGO) build --release -q -p loadsuite -p mocks

# One load target: scenario $(1) into a fresh $(OUT)/$(1): CSVs, run.json and reports (judged
# against $(BASELINES)/$(1).json when `record-baseline` stored one, on its targets otherwise); the
# exit status is the run's.
define load_run
	@rm -rf $(OUT)/$(1); $(LOADSUITE) run $(1) $(STACK_TARGETS) $(RUN_TIME_ARG) --out $(OUT)/$(1); status=$$?; \
	if [ -f $(BASELINES)/$(1).json ]; then $(LOADSUITE) compare --baseline $(BASELINES)/$(1).json --run $(OUT)/$(1) >/dev/null; \
	else $(LOADSUITE) report $(OUT)/$(1) >/dev/null; fi; \
	echo "results and report: $(OUT)/$(1) (summary.md, report.html)"; \
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

test-load-agent: require-stack ## progressive agent turns (retrieval, tools/list, model and tool calls per turn)
	$(call load_run,agent-progressive)

test-load: test-load-api test-load-rag test-load-mcp test-load-agent ## the progressive plans in sequence

test-load-segments: build-loadsuite ## rehearse distributed load: 3 segment containers + merge (SEGMENT_SCENARIO=, RUN_TIME=)
	@docker image inspect $(LOADSUITE_IMAGE) >/dev/null 2>&1 || { echo "no image $(LOADSUITE_IMAGE): run 'make images' first"; exit 2; }
	@mkdir -p $(OUT)/segments
	@export RESULTS_DIR=$(abspath $(OUT)) LOADSUITE_USER=$$(id -u):$$(id -g) START_AT=$$(( $$(date +%s) + 5 )) RUN_TIME=$(or $(RUN_TIME),30s); \
	$(DC) --profile segments up -d merge && \
	code=$$(docker wait $$($(DC) --profile segments ps -q merge)) && \
	[ "$$code" = 0 ] || { $(DC) --profile segments logs merge segment-0 segment-1 segment-2; exit 1; }
	@$(LOADSUITE) report $(OUT)/segments/merged >/dev/null; \
	echo "merged run and report: $(OUT)/segments/merged (segments in $(OUT)/segments/segment-*)"

record-baseline: require-stack ## record each scenario's baseline from RUNS runs (SCENARIOS="baseline api-progressive ...", RUNS=3)
	@for s in $(SCENARIOS); do \
	  from=""; for i in $$(seq 1 $(RUNS)); do \
	    dir=$(OUT)/baseline-runs/$$s-$$i; rm -rf $$dir; echo "$$s: baseline run $$i of $(RUNS)"; \
	    $(LOADSUITE) run $$s $(STACK_TARGETS) $(RUN_TIME_ARG) --quiet --out $$dir >/dev/null; \
	    [ -f $$dir/run.json ] || exit 2; from="$$from --from $$dir"; \
	  done; \
	  mkdir -p $(BASELINES) && $(LOADSUITE) baseline $$from --out $(BASELINES)/$$s.json || exit $$?; \
	done

# Exit status of several comparisons: 1 if any regressed, else 2 if any failed, else 3 if any was
# inconclusive, else 0.
regress: build-loadsuite ## compare each scenario's latest run with its stored baseline (never a run with itself)
	@regressed=0; failed=0; inconclusive=0; compared=0; \
	for s in $(SCENARIOS); do \
	  base=$(BASELINES)/$$s.json; run=$(OUT)/$$s; \
	  [ -f $$base ] && [ -f $$run/run.json ] || continue; \
	  compared=$$((compared + 1)); echo "== $$s: $$run against $$base"; \
	  $(LOADSUITE) compare --baseline $$base --run $$run; \
	  case $$? in 0) ;; 1) regressed=1;; 3) inconclusive=1;; *) failed=1;; esac; \
	done; \
	[ $$compared -gt 0 ] || { echo "nothing to compare: record baselines (make record-baseline), then run make test-load-*"; exit 2; }; \
	[ $$regressed = 0 ] || exit 1; [ $$failed = 0 ] || exit 2; [ $$inconclusive = 0 ] || exit 3

# The nightly check (.github/workflows/nightly-load.yml runs `make nightly`): the scenario on the
# embedded mocks with fault profile PROFILE (or, with NIGHTLY_STACK=1, on GATEWAY_URL/RAG_URL/MCP_URL),
# compared with a baseline of RUNS runs recorded on the same machine and kept from night to night.
NIGHTLY_SCENARIO ?= baseline
NIGHTLY_USERS ?= 60
NIGHTLY_RUN_TIME ?= 1m
PROFILE ?= none
NIGHTLY_DIR ?= $(OUT)/nightly
NIGHTLY_BASELINE ?= $(NIGHTLY_DIR)/baseline.json
NIGHTLY_LOAD = $(if $(NIGHTLY_STACK),$(STACK_TARGETS),--embedded --mocks-config compose/profiles/$(PROFILE).toml) --users $(NIGHTLY_USERS) --run-time $(NIGHTLY_RUN_TIME) --quiet
REPO ?= owner/name

nightly-baseline: ## the nightly baseline from RUNS runs, unless NIGHTLY_BASELINE exists (kept from earlier nights)
	@if [ -f $(NIGHTLY_BASELINE) ]; then echo "nightly baseline: $(NIGHTLY_BASELINE) (kept from an earlier night)"; exit 0; fi; \
	from=""; for i in $$(seq 1 $(RUNS)); do \
	  dir=$(NIGHTLY_DIR)/baseline-$$i; rm -rf $$dir; echo "nightly baseline: run $$i of $(RUNS)"; \
	  $(LOADSUITE) run $(NIGHTLY_SCENARIO) $(NIGHTLY_LOAD) --out $$dir >/dev/null; \
	  [ -f $$dir/run.json ] || exit 2; from="$$from --from $$dir"; \
	done; \
	$(LOADSUITE) baseline $$from --out $(NIGHTLY_BASELINE)

nightly: nightly-baseline ## run, compare with the nightly baseline (its exit status also in NIGHTLY_DIR/compare-exit), and on regression build the issue (REPO=owner/name; filed when GITHUB_TOKEN is set)
	@rm -rf $(NIGHTLY_DIR)/run; \
	$(LOADSUITE) run $(NIGHTLY_SCENARIO) $(NIGHTLY_LOAD) --out $(NIGHTLY_DIR)/run >/dev/null; \
	$(LOADSUITE) compare --baseline $(NIGHTLY_BASELINE) --run $(NIGHTLY_DIR)/run; code=$$?; \
	echo $$code > $(NIGHTLY_DIR)/compare-exit; \
	if [ $$code = 1 ]; then \
	  $(LOADSUITE) issue --verdict $(NIGHTLY_DIR)/run/verdict.json --repo $(REPO) $(if $(GITHUB_TOKEN),,--dry-run) | tee $(NIGHTLY_DIR)/issue.txt; \
	fi; \
	exit $$code
