"""`make bench-agent`: agent turns at 100 users, loadsuite on one core, the mocks on the other.

`mocks serve` (an instant model, bench/mocks-agent.toml) is pinned to core 0 and loadsuite to core 1,
running agent turns (retrieve, tools/list once per session, model call, `git_log` call, model call)
for BENCH_DURATION seconds, BENCH_ROUNDS times, twice per round:
- flat out (no think time: both processes saturate): turns/s and loadsuite's CPU per turn (kernel
  rusage of the child);
- paced (0.05-0.15 s think time, about a tenth of that load): the time a turn takes beyond what the
  services spent on its requests, (sum of the turns' client-measured times - sum of the services'
  own request times from their /metrics) / steps. That is an upper bound on loadsuite's overhead
  per step: it also holds the loopback round trips and the services writing their bodies.
Writes bench/results/agent.{json,md}.
"""

import datetime
import json
import os
import re
import resource
import subprocess
import time
import urllib.request

import machine

DURATION = int(os.environ.get("BENCH_DURATION", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
USERS = int(os.environ.get("BENCH_USERS", "100"))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR") or "target", "release")
PORTS = {"gateway": 18700, "rag": 18702, "mcp": 18720}

SCENARIO = f"""name = "bench-agent"
description = "agent turns with no think time"
[targets]
gateway = "http://127.0.0.1:{PORTS['gateway']}"
rag = "http://127.0.0.1:{PORTS['rag']}"
mcp = "http://127.0.0.1:{PORTS['mcp']}"
[[users]]
name = "agent"
target = "gateway"
THINK
tasks = [{{ kind = "agent", model = "bench-agent", max_tokens = 16, rag_target = "rag", tools = ["git_log"], max_steps = 4 }}]
[load]
shape = "stages"
stages = [{{ users = {USERS}, spawn_rate = {USERS}, duration = "{DURATION}s" }}]
"""


def server_seconds():
    """Sum of the three services' own request times (time to response head), from /metrics."""
    total = 0.0
    for port in PORTS.values():
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        total += sum(float(m) for m in re.findall(r"^mock_request_duration_seconds_sum\{[^}]*\} (\S+)", text, re.M))
    return total


def reset():
    for port in PORTS.values():
        req = urllib.request.Request(f"http://127.0.0.1:{port}/__admin/reset", method="POST", data=b"")
        urllib.request.urlopen(req).read()


def one_run(i, think):
    reset()
    before_server = server_seconds()
    out_dir = f"/tmp/bench-agent-{i}"
    open("/tmp/bench-agent.toml", "w").write(SCENARIO.replace("THINK", think))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["taskset", "-c", "1", f"{BIN}/loadsuite", "run", "/tmp/bench-agent.toml", "--quiet",
                    "--overwrite", "--out", out_dir], capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    server = server_seconds() - before_server
    run = json.load(open(os.path.join(out_dir, "run.json")))
    rows = {e["name"]: e for e in run["endpoints"] if e["method"] == "AGENT"}
    turn = rows["turn"]
    steps = sum(e["requests"] for name, e in rows.items() if name != "turn")
    # Every turn's time (successful ones by their mean, failed ones by theirs).
    failed = turn.get("failed_latency_ms") or {}
    turn_seconds = (turn["mean_ms"] * (turn["requests"] - turn["failures"])) / 1000.0
    if turn["failures"]:
        turn_seconds += failed.get("p50", 0.0) * turn["failures"] / 1000.0
    return {
        "turns": turn["requests"],
        "failed_turns": turn["failures"],
        "turns_per_s": turn["requests"] / run["duration_s"],
        "steps_per_turn": steps / max(turn["requests"], 1),
        "loadsuite_cpu_ms_per_turn": 1000.0 * cpu / max(turn["requests"], 1),
        "overhead_ms_per_step": 1000.0 * (turn_seconds - server) / max(steps, 1),
        "turn_p50_ms": turn["latency_ms"]["p50"],
    }


def main():
    host = machine.facts()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "loadsuite", "-p", "mocks"], check=True)
    mocks = subprocess.Popen(
        ["taskset", "-c", "0", f"{BIN}/mocks", "serve", "--config", "bench/mocks-agent.toml",
         "--gateway-addr", f"127.0.0.1:{PORTS['gateway']}", "--rag-addr", f"127.0.0.1:{PORTS['rag']}",
         "--mcp-addr", f"127.0.0.1:{PORTS['mcp']}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    try:
        rounds = []
        for i in range(ROUNDS):
            flat = one_run(f"flat-{i}", "")
            paced = one_run(f"paced-{i}", 'think = { kind = "between", min = 0.05, max = 0.15 }')
            rounds.append({
                "turns_per_s": flat["turns_per_s"],
                "loadsuite_cpu_ms_per_turn": flat["loadsuite_cpu_ms_per_turn"],
                "steps_per_turn": flat["steps_per_turn"],
                "failed_turns": flat["failed_turns"] + paced["failed_turns"],
                "paced_turns_per_s": paced["turns_per_s"],
                "paced_turn_p50_ms": paced["turn_p50_ms"],
                "overhead_ms_per_step": paced["overhead_ms_per_step"],
                "flat_overhead_ms_per_step": flat["overhead_ms_per_step"],
            })
    finally:
        mocks.terminate()

    def median(key):
        xs = sorted(r[key] for r in rounds)
        return xs[len(xs) // 2]

    med = {k: median(k) for k in rounds[0]}
    result = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": host,
        "setup": f"mocks serve on core 0 (instant model), loadsuite on core 1; {USERS} users flat out (no think "
                 f"time) and paced (0.05-0.15 s think time), {DURATION}s each, {ROUNDS} rounds, median",
        "rounds": rounds,
        "median": med,
        "goals": {"overhead_ms_per_step": "< 1 (median)"},
    }
    os.makedirs("bench/results", exist_ok=True)
    json.dump(result, open("bench/results/agent.json", "w"), indent=2)
    lines = [
        f"# Agent turns ({result['when']})", "", f"Machine: {machine.describe(host)}.", "", result["setup"] + ".", "",
        "| figure | median |", "|---|---:|",
        f"| flat out: turns/s | {med['turns_per_s']:.0f} |",
        f"| flat out: loadsuite CPU per turn | {med['loadsuite_cpu_ms_per_turn']:.3f} ms |",
        f"| steps per turn | {med['steps_per_turn']:.2f} |",
        f"| paced: turns/s | {med['paced_turns_per_s']:.0f} |",
        f"| paced: turn p50 | {med['paced_turn_p50_ms']:.2f} ms |",
        f"| paced: time beyond the services' own, per step (goal < 1 ms) | {med['overhead_ms_per_step']:.3f} ms |",
        f"| flat out: the same (queueing in both saturated processes) | {med['flat_overhead_ms_per_step']:.3f} ms |",
        f"| failed turns (all rounds) | {sum(r['failed_turns'] for r in rounds)} |",
        "",
        "The time beyond the services' own is an upper bound on loadsuite's overhead per step: it",
        "includes the loopback round trips and the services writing their bodies after the head.",
    ]
    open("bench/results/agent.md", "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
