#!/usr/bin/env bash
# `make bench-mocks`: requests/s of the mock gateway beside a bare axum hello-world server, measured
# with wrk in one run, plus RAG query and MCP tools/call requests/s (no faults) for later comparison
# (servers pinned to core 0, wrk to core 1, cases interleaved over rounds, the median of each case
# kept). The bare server also answers a canned chat completion of the gateway's size, a reference
# for what the larger answer alone costs, and runs a second time on tokio's current-thread
# scheduler (what the mocks pick on one core), a reference for what that choice earns. Figures go
# to bench/results/mocks.{json,md}; ratios are what count.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${BENCH_DURATION:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
LOAD_AT_START=$(cut -d' ' -f1 /proc/loadavg)
ROUNDS=${BENCH_ROUNDS:-11}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk (make bench-mocks does it)"; exit 2; }
cargo build --release -q -p mocks -p hello
BIN="${CARGO_TARGET_DIR:-target}/release"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
start() { # name port command...
  local name=$1 port=$2; shift 2
  RUST_LOG=warn taskset -c 0 "$@" >"/tmp/bench-$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do "$BIN/mocks" healthcheck "http://127.0.0.1:$port/health" --timeout-ms 200 2>/dev/null && return; sleep 0.1; done
  echo "$name did not start; see /tmp/bench-$name.log"; exit 1
}
start hello 18999 "$BIN/hello" 127.0.0.1:18999
start hello-current-thread 18998 "$BIN/hello" 127.0.0.1:18998 --current-thread
start gateway 18100 "$BIN/mocks" gateway --addr 127.0.0.1:18100 --config bench/mocks-bench.toml
start gateway-rules 18101 "$BIN/mocks" gateway --addr 127.0.0.1:18101 --config bench/mocks-bench-20-rules.toml
start rag 18102 "$BIN/mocks" rag --addr 127.0.0.1:18102 --config bench/mocks-bench.toml
start mcp 18120 "$BIN/mocks" mcp --addr 127.0.0.1:18120 --config bench/mocks-bench.toml
cases=(
  "hello_health|http://127.0.0.1:18999/health|"
  "hello_canned_chat|http://127.0.0.1:18999/chat|bench/chat.lua"
  "hello_current_thread_health|http://127.0.0.1:18998/health|"
  "gateway_health|http://127.0.0.1:18100/health|"
  "gateway_chat|http://127.0.0.1:18100/v1/chat/completions|bench/chat.lua"
  "gateway_chat_20_idle_rules|http://127.0.0.1:18101/v1/chat/completions|bench/chat.lua"
  "rag_query|http://127.0.0.1:18102/v1/query|bench/rag_query.lua"
  "mcp_tools_call|http://127.0.0.1:18120/mcp|bench/mcp_call.lua"
)
raw=$(mktemp)
for round in $(seq "$ROUNDS"); do
  # Every other round runs the cases in reverse, so no case always follows the same neighbour.
  order=("${cases[@]}")
  if ((round % 2 == 0)); then
    order=(); for ((i = ${#cases[@]} - 1; i >= 0; i--)); do order+=("${cases[$i]}"); done
  fi
  for case in "${order[@]}"; do
    IFS='|' read -r name url script <<<"$case"
    args=(-t1 "-c$CONNECTIONS" "-d${DURATION}s" --latency)
    [ -n "$script" ] && args+=(-s "$script")
    rps=$(taskset -c 1 wrk "${args[@]}" "$url" | awk '/Requests\/sec/ {print $2}')
    echo "round $round $name $rps"
    echo "$round $name $rps" >>"$raw"
  done
done
python3 - "$raw" "$DURATION" "$CONNECTIONS" "$ROUNDS" "$LOAD_AT_START" <<'PY'
# The machine is shared and its speed drifts by tens of percent within seconds, so a ratio is
# taken within each round (cases run back to back) and the median over rounds is reported, with
# the quartiles of those per-round ratios to show the spread.
import json, statistics, sys, datetime
sys.path.insert(0, "bench")
import machine
raw, duration, connections, rounds, load_at_start = sys.argv[1], *sys.argv[2:]
host = machine.facts(float(load_at_start))
by_round, runs = {}, {}
for line in open(raw):
    rnd, name, rps = line.split()
    by_round.setdefault(int(rnd), {})[name] = float(rps)
    runs.setdefault(name, []).append(float(rps))
med = {k: statistics.median(v) for k, v in runs.items()}
definitions = {
    "gateway_health_vs_hello": (lambda r: r["gateway_health"] / r["hello_health"], ">= 0.9"),
    "gateway_chat_vs_hello": (lambda r: r["gateway_chat"] / r["hello_health"], ">= 0.7"),
    "idle_rules_cost": (lambda r: 1 - r["gateway_chat_20_idle_rules"] / r["gateway_chat"], "<= 0.05"),
    # Not goals: how far the bare server itself falls when it only sends a chat-sized answer, and
    # the gateway's chat against that.
    "hello_canned_chat_vs_hello": (lambda r: r["hello_canned_chat"] / r["hello_health"], "reference"),
    "gateway_chat_vs_hello_canned_chat": (lambda r: r["gateway_chat"] / r["hello_canned_chat"], "reference"),
    # Not goals either: on one core the mocks run tokio's current-thread scheduler (mocks/src/runtime.rs);
    # the same bare server on that scheduler shows how much of the goal ratios that choice earns.
    "gateway_health_vs_hello_current_thread": (lambda r: r["gateway_health"] / r["hello_current_thread_health"], "reference"),
    "gateway_chat_vs_hello_current_thread": (lambda r: r["gateway_chat"] / r["hello_current_thread_health"], "reference"),
}
ratios, spread, goals = {}, {}, {}
for key, (ratio, goal) in definitions.items():
    values = sorted(ratio(r) for r in by_round.values())
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    ratios[key], spread[key], goals[key] = statistics.median(values), [q[0], q[2]], goal
result = {"when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "machine": host,
          "tool": f"wrk -t1 -c{connections} -d{duration}s, {rounds} interleaved rounds",
          "requests_per_second": med, "runs": runs, "ratios": ratios, "ratio_quartiles": spread, "goals": goals}
json.dump(result, open("bench/results/mocks.json", "w"), indent=2)
with open("bench/results/mocks.md", "w") as md:
    md.write(f"# Mock benchmark ({result['when']})\n\nMachine: {machine.describe(host)}.\n\n{result['tool']}; servers on core 0, wrk on core 1.\n")
    md.write("Ratios are taken within each round, then the median over rounds (quartiles beside it).\n\n")
    md.write("| case | requests/s (median) | runs |\n|---|---:|---|\n")
    for k, v in med.items():
        md.write(f"| {k} | {v:,.0f} | {', '.join(f'{x:,.0f}' for x in runs[k])} |\n")
    md.write("\n| ratio | median | quartiles | goal |\n|---|---:|---|---|\n")
    for k, v in ratios.items():
        md.write(f"| {k} | {v:.3f} | {spread[k][0]:.3f} to {spread[k][1]:.3f} | {goals[k]} |\n")
print(open("bench/results/mocks.md").read())
PY
