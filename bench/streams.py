"""`make bench-streams`: thousands of concurrent SSE streams, the gateway mock and loadsuite on one core each.

The gateway mock (bench/mocks-streams.toml: a model at 20 tokens/s after a 200 ms first token, no
pacing jitter) is pinned to core 0, loadsuite to core 1. Per level (STREAMS_LEVELS, default 1,000,
5,000 and 10,000 users), a fresh gateway and one loadsuite run: a ramp stage, a settle stage of
STREAMS_SETTLE seconds (longer than one answer, so every stream the hold stage sees began after the
ramp: a stream is counted in the stage it ends in, and the first turns, sent while thousands of
connections or h2 streams were being opened, would otherwise add the ramp's setup delay to TTFT),
then a hold stage of STREAMS_HOLD seconds with every user streaming 200-token answers back to back
(no think time). Figures are those of the hold stage: tokens/s delivered (completed streams x 200
tokens over the stage), TTFT p50/p99 against the configured 200 ms, inter-token p50/p99 against the
configured 50 ms, each process's share of its core and CPU per 1,000 tokens (from /proc, sampled over the
hold), each one's peak RSS (VmHWM), the generator's timer lateness in the stage, and whether the
run itself flagged its stream figures as distorted by the generator, and the share of tokens the
gateway sent more than 5 ms after they were due (its `late_stream_tokens`: the target's own lag).
The HTTP/2 levels (STREAMS_H2_LEVELS, default 5,000 and 10,000) repeat the run with the
scenario's `http2 = ["gateway"]`: every stream multiplexed on one h2c connection.

Then the open model: streams started at a fixed arrival rate (STREAMS_RATES per second, each
stream 2 s long), the measured arrival rate against the plan and the late starts, up to the rate
where the generator saturates.

Peers in the same run, optional (skipped with a note when not installed): Locust streaming the
same chat through `requests` with `stream=True` (how Locust users write SSE tasks), at the first
level. Writes bench/results/streams.{json,md}.
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import machine

LEVELS = [int(x) for x in os.environ.get("STREAMS_LEVELS", "1000,5000,10000").split(",")]
# The same levels with loadsuite speaking HTTP/2 (h2c) to the gateway: every stream on one
# connection, the gateway writing the frames due together in one send.
H2_LEVELS = [int(x) for x in os.environ.get("STREAMS_H2_LEVELS", "5000,10000").split(",") if x]
HOLD = int(os.environ.get("STREAMS_HOLD", "20"))
# One answer lasts 10.15 s at the configured pacing; the settle stage outlasts it with margin.
SETTLE = int(os.environ.get("STREAMS_SETTLE", "15"))
RATES = [int(x) for x in os.environ.get("STREAMS_RATES", "100,200,400,800,1600,3200").split(",")]
LOCUST_USERS = int(os.environ.get("STREAMS_LOCUST_USERS", str(LEVELS[0])))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR") or "target", "release")
PORT = 18800
HELLO_PORT = 18801
TOKENS = 200
TTFT_MS = 200.0
GAP_MS = 50.0
TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """CPU seconds a process used so far (user + system)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def proc_hwm_mib(pid):
    """Peak resident memory of a process so far, MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def streamed_tokens(port=PORT):
    """Tokens the gateway (or the bare server, `/tokens`) has sent in streamed answers so far, and
    how many of them left more than 5 ms after they were due (the gateway's own lag; the bare
    server does not count them)."""
    if port == HELLO_PORT:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/tokens", timeout=5) as response:
            return int(response.read()), 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__admin/counters", timeout=5) as response:
        counters = json.load(response)
        return counters["streamed_tokens"], counters["late_stream_tokens"]


def start_gateway():
    gateway = subprocess.Popen(
        ["taskset", "-c", "0", f"{BIN}/mocks", "gateway", "--config", "bench/mocks-streams.toml",
         "--addr", f"127.0.0.1:{PORT}", "--worker-threads", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        ok = subprocess.run([f"{BIN}/mocks", "healthcheck", f"http://127.0.0.1:{PORT}/health", "--timeout-ms", "200"],
                            capture_output=True).returncode == 0
        if ok:
            return gateway
        time.sleep(0.1)
    gateway.kill()
    sys.exit("the gateway did not start")


def scenario(load, port=PORT, http2=False):
    return f"""{'http2 = ["gateway"]' if http2 else ''}
name = "bench-streams"
description = "streamed chat, 200-token answers back to back"
[targets]
gateway = "http://127.0.0.1:{port}"
[[users]]
name = "chat"
target = "gateway"
tasks = [{{ kind = "chat", model = "bench-stream", max_tokens = {TOKENS}, stream = true }}]
[load]
{load}
"""


def watch(process, gateway, window, port=PORT):
    """Polls both processes until `process` exits; returns CPU seconds of each, the tokens the
    gateway streamed and those it sent late over `window` (seconds after start), its length, and
    the peaks of their resident memory."""
    started = time.monotonic()
    samples = []
    peak = {"loadsuite": 0.0, "gateway": 0.0}
    while process.poll() is None:
        try:
            t = time.monotonic() - started
            samples.append((t, proc_cpu(process.pid), proc_cpu(gateway.pid), *streamed_tokens(port)))
            peak["loadsuite"] = max(peak["loadsuite"], proc_hwm_mib(process.pid))
            peak["gateway"] = max(peak["gateway"], proc_hwm_mib(gateway.pid))
        except (OSError, IndexError):
            # A process gone, or a counters read that timed out: that sample is skipped.
            pass
        time.sleep(0.25)
    inside = [s for s in samples if window[0] <= s[0] <= window[1]]
    if len(inside) < 2:
        return (None, None, 0, 0), 0.0, peak
    seconds = inside[-1][0] - inside[0][0]
    first, last = inside[0], inside[-1]
    return (last[1] - first[1], last[2] - first[2], last[3] - first[3], last[4] - first[4]), seconds, peak


def loadsuite(text, out_dir, window, gateway, port=PORT):
    path = os.path.join(out_dir + ".toml")
    with open(path, "w") as f:
        f.write(text)
    process = subprocess.Popen(
        ["taskset", "-c", "1", f"{BIN}/loadsuite", "run", path, "--silent", "--overwrite", "--no-preflight",
         "--drain", "15s", "--out", out_dir],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    (cpu_l, cpu_g, tokens, late), seconds, peak = watch(process, gateway, window, port)
    err = process.stderr.read()
    if process.returncode not in (0, 1):
        sys.exit(f"loadsuite failed ({process.returncode}): {err}")
    with open(os.path.join(out_dir, "run.json")) as f:
        return json.load(f), (cpu_l, cpu_g, tokens, late, seconds), peak


def stream_row(run, stage):
    return [e for e in run["stage_endpoints"] if e.get("stage") == stage and e.get("ttft_ms")][0]


def lag_of(run, stage):
    for lag in run.get("generator_lag", []):
        if lag["stage"] == stage:
            return lag
    return {}


# The closed levels' stages: ramp, settle, hold.
HOLD_STAGE = 2


def closed_level(users, http2=False):
    ramp_rate = min(users, 2000)
    ramp = users / ramp_rate + 2
    load = (f'shape = "stages"\nstages = [{{ users = {users}, spawn_rate = {ramp_rate}, duration = "{ramp:.0f}s" }}, '
            f'{{ users = {users}, spawn_rate = {ramp_rate}, duration = "{SETTLE}s" }}, '
            f'{{ users = {users}, spawn_rate = {ramp_rate}, duration = "{HOLD}s" }}]')
    gateway = start_gateway()
    try:
        # CPU, memory and tokens are read over the hold stage (less a second at each end).
        hold_start = round(ramp) + SETTLE
        window = (hold_start + 1, hold_start + HOLD - 1)
        run, (cpu_l, cpu_g, tokens, late, seconds), peak = loadsuite(
            scenario(load, http2=http2), f"/tmp/bench-streams-{users}{'-h2' if http2 else ''}", window, gateway)
    finally:
        gateway.terminate()
        gateway.wait()
    row = stream_row(run, HOLD_STAGE)
    # Tokens the gateway streamed over the window (its counter): completions come in waves.
    tokens_per_s = tokens / seconds if seconds else 0.0
    tokens_in_window = tokens
    distorted = [w["message"] for w in run["engine"].get("warnings", [])
                 if w["kind"] == "stream_timing_distorted" and w.get("stage") == HOLD_STAGE]
    return {
        "users": users,
        "protocol": "HTTP/2" if http2 else "HTTP/1.1",
        "streams_completed": row["requests"] - row["failures"],
        "failed": row["failures"],
        "tokens_per_s": tokens_per_s,
        "ttft_p50_ms": row["ttft_ms"]["p50"],
        "ttft_p99_ms": row["ttft_ms"]["p99"],
        "inter_token_p50_ms": row["inter_token_ms"]["p50"],
        "inter_token_p99_ms": row["inter_token_ms"]["p99"],
        "loadsuite_core_share": cpu_l / seconds if seconds else None,
        "gateway_core_share": cpu_g / seconds if seconds else None,
        "loadsuite_cpu_ms_per_1k_tokens": 1e6 * cpu_l / tokens_in_window if tokens_in_window else None,
        "gateway_cpu_ms_per_1k_tokens": 1e6 * cpu_g / tokens_in_window if tokens_in_window else None,
        "loadsuite_peak_rss_mib": peak["loadsuite"],
        "gateway_peak_rss_mib": peak["gateway"],
        "generator_lag_p99_ms": lag_of(run, HOLD_STAGE).get("p99_ms"),
        # The target's own lag: tokens the gateway sent more than 5 ms after they were due.
        "gateway_late_token_share": late / tokens if tokens else None,
        "run_flagged": distorted,
    }


def open_level(rate):
    seconds = 10
    load = f'shape = "arrival"\nstages = [{{ rate = {rate}, duration = "{seconds}s" }}]\nmax_in_flight = {rate * 10}'
    text = scenario(load).replace(f"max_tokens = {TOKENS}", "max_tokens = 40")
    gateway = start_gateway()
    try:
        run, (cpu_l, cpu_g, tokens, late_tokens, window), _ = loadsuite(
            text, f"/tmp/bench-streams-rate-{rate}", (1, seconds - 1), gateway)
    finally:
        gateway.terminate()
        gateway.wait()
    schedule = run.get("schedule") or {}
    row = [e for e in run["endpoints"] if e.get("ttft_ms") or e["name"].endswith("(stream)")][0]
    return {
        "planned_per_s": rate,
        "measured_per_s": row["requests"] / seconds,
        "scheduled": schedule.get("scheduled"),
        "started": row["requests"],
        "late": schedule.get("late", 0),
        "dropped": schedule.get("dropped", 0),
        "loadsuite_core_share": cpu_l / window if window else None,
        "gateway_core_share": cpu_g / window if window else None,
        "gateway_late_token_share": late_tokens / tokens if tokens else None,
        # The run's own verdict on its timing: the generator at its CPU limit (90%, or 70% for
        # streams), the target sending its tokens late.
        "generator_saturated": run["generator_cpu"]["saturated"]
        or any("the generator used" in w["message"] for w in run["engine"]["warnings"]),
        "gateway_saturated": any("the target" in w["message"] for w in run["engine"]["warnings"]),
        "accurate": abs(row["requests"] / seconds - rate) <= 0.02 * rate and schedule.get("late", 0) == 0
        and schedule.get("dropped", 0) == 0,
    }


def locust_peer(users):
    """Locust streaming the same answers through requests (stream=True), on core 1."""
    if shutil.which("locust") is None:
        return {"skipped": "locust is not installed (pip install locust)"}
    locustfile = os.path.join(tempfile.mkdtemp(), "locustfile.py")
    with open(locustfile, "w") as f:
        f.write(LOCUSTFILE)
    gateway = start_gateway()
    ramp = users // 100 + 2
    seconds = ramp + SETTLE + HOLD
    try:
        process = subprocess.Popen(
            ["taskset", "-c", "1", "locust", "-f", locustfile, "--headless", "-u", str(users), "-r", str(min(users, 100)),
             "-t", f"{seconds}s", "--host", f"http://127.0.0.1:{PORT}", "--only-summary",
             "--csv", "/tmp/bench-streams-locust"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "STREAM_TOKENS": str(TOKENS), "MEASURE_AFTER_S": str(ramp + SETTLE)})
        (cpu_l, _, tokens, _), window, peak = watch(process, gateway, (ramp + SETTLE + 1, seconds - 1))
    finally:
        gateway.terminate()
        gateway.wait()
    rows = {}
    with open("/tmp/bench-streams-locust_stats.csv") as f:
        header = f.readline().strip().split(",")
        for line in f:
            values = line.strip().split(",")
            rows[values[1]] = dict(zip(header, values))
    ttft = rows.get("ttft", {})
    gap = rows.get("inter_token", {})
    tokens_per_s = tokens / window if window else 0.0
    return {
        "users": users,
        "tokens_per_s": tokens_per_s,
        "ttft_p50_ms": float(ttft.get("50%", "nan")),
        "ttft_p99_ms": float(ttft.get("99%", "nan")),
        "inter_token_p50_ms": float(gap.get("50%", "nan")),
        "inter_token_p99_ms": float(gap.get("99%", "nan")),
        "core_share": cpu_l / window if window else None,
        "cpu_ms_per_1k_tokens": 1e6 * cpu_l / (tokens_per_s * window) if tokens_per_s and window else None,
        "peak_rss_mib": peak["loadsuite"],
    }


# Locust's SSE task as its users write it: requests with stream=True, a line iterator, and the
# first token and the gaps reported as their own rows (inter-token gaps sampled: one row per
# stream, its median gap, so the stats files stay small). As for loadsuite, only streams begun
# after the ramp and the settle time (MEASURE_AFTER_S from start) are reported.
LOCUSTFILE = r'''
import json, os, time
from locust import HttpUser, task, events

TOKENS = int(os.environ.get("STREAM_TOKENS", "200"))
MEASURE_FROM = time.perf_counter() + float(os.environ.get("MEASURE_AFTER_S", "0"))

class Chat(HttpUser):
    @task
    def stream(self):
        body = {"model": "bench-stream", "max_tokens": TOKENS, "stream": True,
                "messages": [{"role": "user", "content": "hello"}]}
        start = time.perf_counter()
        first = last = None
        gaps = []
        with self.client.post("/v1/chat/completions", json=body, stream=True, name="stream",
                              catch_response=True) as response:
            for line in response.iter_lines():
                if not line.startswith(b"data: ") or line == b"data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if not chunk.get("choices") or not chunk["choices"][0]["delta"].get("content"):
                    continue
                now = time.perf_counter()
                if first is None:
                    first = now
                else:
                    gaps.append(now - last)
                last = now
            response.success()
        fire = self.environment.events.request.fire
        if first is not None and start >= MEASURE_FROM:
            fire(request_type="SSE", name="ttft", response_time=(first - start) * 1000, response_length=0,
                 exception=None, context={})
        if gaps and start >= MEASURE_FROM:
            gaps.sort()
            fire(request_type="SSE", name="inter_token", response_time=gaps[len(gaps) // 2] * 1000,
                 response_length=0, exception=None, context={})
'''


def gateway_vs_axum(users=2000, rounds=3):
    """The gateway's tokens per CPU-second under `users` concurrent streams beside a bare axum SSE
    server (bench/hello, current-thread, the same frames at the same pacing), each on core 0 in
    turn, loadsuite on core 1; rounds alternate the order. Writes bench/results/mocks_streams.*."""
    host = machine.facts()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "loadsuite", "-p", "mocks", "-p", "hello"], check=True)
    load = (f'shape = "stages"\nstages = [{{ users = {users}, spawn_rate = {users}, duration = "3s" }}, '
            f'{{ users = {users}, spawn_rate = {users}, duration = "{HOLD}s" }}]')
    window = (4, 3 + HOLD - 1)
    per_round = []
    for round_ in range(rounds):
        order = ["gateway", "axum"] if round_ % 2 == 0 else ["axum", "gateway"]
        figures = {}
        for name in order:
            if name == "gateway":
                server, port = start_gateway(), PORT
            else:
                server = subprocess.Popen(["taskset", "-c", "0", f"{BIN}/hello", f"127.0.0.1:{HELLO_PORT}",
                                           "--current-thread"], stdout=subprocess.DEVNULL)
                port = HELLO_PORT
                time.sleep(0.5)
            try:
                _, (_, cpu_s, tokens, _, seconds), peak = loadsuite(scenario(load, port), f"/tmp/bench-streams-{name}",
                                                                 window, server, port)
            finally:
                server.terminate()
                server.wait()
            figures[name] = {"tokens_per_s": tokens / seconds, "core_share": cpu_s / seconds,
                             "tokens_per_cpu_s": tokens / cpu_s if cpu_s else 0.0, "peak_rss_mib": peak["gateway"]}
        figures["ratio"] = figures["gateway"]["tokens_per_cpu_s"] / figures["axum"]["tokens_per_cpu_s"]
        per_round.append(figures)
        print(f"round {round_}: {json.dumps(figures)}", flush=True)
    ratios = sorted(r["ratio"] for r in per_round)
    median = lambda key, name: sorted(r[name][key] for r in per_round)[len(per_round) // 2]
    result = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": host,
        "setup": f"server on core 0 (one thread), loadsuite on core 1; {users} concurrent streams of 200 tokens "
                 f"at 20 tokens/s after 200 ms, {HOLD} s hold, {rounds} rounds alternating the order, median",
        "rounds": per_round,
        "ratio_tokens_per_cpu_s_gateway_vs_axum": ratios[len(ratios) // 2],
        "goal": ">= 0.7",
    }
    os.makedirs("bench/results", exist_ok=True)
    with open("bench/results/mocks_streams.json", "w") as f:
        json.dump(result, f, indent=2)
    lines = [f"# The gateway under streams ({result['when']})", "", f"Machine: {machine.describe(host)}.", "",
             result["setup"] + ".", "",
             "| server | tokens/s | share of its core | tokens per CPU-second | peak RSS |", "|---|---:|---:|---:|---:|"]
    for name, label in (("axum", "bare axum SSE (bench/hello)"), ("gateway", "mock gateway")):
        lines.append(f"| {label} | {median('tokens_per_s', name):,.0f} | {100 * median('core_share', name):.0f}% "
                     f"| {median('tokens_per_cpu_s', name):,.0f} | {median('peak_rss_mib', name):.0f} MiB |")
    lines += ["", f"gateway / bare axum tokens per CPU-second: **{result['ratio_tokens_per_cpu_s_gateway_vs_axum']:.2f}** "
              f"(goal >= 0.7; rounds: {', '.join(f'{r:.2f}' for r in ratios)})"]
    with open("bench/results/mocks_streams.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    if sys.argv[1:] == ["gateway"]:
        return gateway_vs_axum()
    host = machine.facts()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "loadsuite", "-p", "mocks"], check=True)
    closed = [closed_level(users) for users in LEVELS] + [closed_level(users, http2=True) for users in H2_LEVELS]
    arrival = [open_level(rate) for rate in RATES]
    locust = locust_peer(LOCUST_USERS)
    result = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": host,
        "setup": f"gateway mock on core 0 (one worker thread), generator on core 1; a model at 20 tokens/s after a "
                 f"200 ms first token, {TOKENS}-token answers back to back; figures from a {HOLD} s hold stage "
                 f"after a {SETTLE} s settle stage (no stream begun in the ramp is measured)",
        "closed": closed,
        "arrival": arrival,
        "locust": locust,
        "goals": {"users": 10000, "ttft_p99_within_ms": 5, "generator_core_share_below": 0.8,
                  "rss_both_mib_below": 1024},
    }
    os.makedirs("bench/results", exist_ok=True)
    with open("bench/results/streams.json", "w") as f:
        json.dump(result, f, indent=2)
    lines = [f"# Streams at scale ({result['when']})", "", f"Machine: {machine.describe(host)}.", "",
             result["setup"] + ".", "",
             "| streams | protocol | tokens/s | TTFT p50 / p99 (200 ms set) | inter-token p50 / p99 (50 ms set) | loadsuite core | gateway core "
             "| loadsuite CPU / 1k tokens | gateway CPU / 1k tokens | RSS loadsuite + gateway | generator timer lateness p99 "
             "| gateway tokens > 5 ms late | run flagged |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    pct = lambda x: "n/a" if x is None else f"{100 * x:.0f}%"
    ms = lambda x: "n/a" if x is None else f"{x:.1f} ms"
    late = lambda x: "n/a" if x is None else f"{100 * x:.2f}%"
    for r in closed:
        lines.append(
            f"| {r['users']:,} | {r['protocol']} | {r['tokens_per_s']:,.0f} | {r['ttft_p50_ms']:.1f} / {r['ttft_p99_ms']:.1f} ms "
            f"| {r['inter_token_p50_ms']:.1f} / {r['inter_token_p99_ms']:.1f} ms | {pct(r['loadsuite_core_share'])} "
            f"| {pct(r['gateway_core_share'])} | {ms(r['loadsuite_cpu_ms_per_1k_tokens'])} | {ms(r['gateway_cpu_ms_per_1k_tokens'])} "
            f"| {r['loadsuite_peak_rss_mib']:.0f} + {r['gateway_peak_rss_mib']:.0f} MiB | {ms(r['generator_lag_p99_ms'])} "
            f"| {late(r['gateway_late_token_share'])} | {'; '.join(r['run_flagged']) or 'no'} |")
    lines += ["", "Open model (2 s streams of 40 tokens at a fixed arrival rate, 10 s):", "",
              "| planned /s | measured /s | late starts | dropped | loadsuite core | gateway core | gateway tokens > 5 ms late "
              "| run flagged |", "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in arrival:
        flagged = [who for who, key in (("generator", "generator_saturated"), ("gateway", "gateway_saturated")) if r[key]]
        lines.append(f"| {r['planned_per_s']} | {r['measured_per_s']:.1f} | {r['late']} | {r['dropped']} "
                     f"| {pct(r['loadsuite_core_share'])} | {pct(r['gateway_core_share'])} "
                     f"| {late(r['gateway_late_token_share'])} | {', '.join(flagged) or 'no'} |")
    within = [r["planned_per_s"] for r in arrival if abs(r["measured_per_s"] - r["planned_per_s"]) <= 0.02 * r["planned_per_s"]]
    exact = []
    for r in arrival:
        if not r["accurate"]:
            break
        exact.append(r["planned_per_s"])
    saturated = [r["planned_per_s"] for r in arrival if r["generator_saturated"]]
    gateway_saturated = [r["planned_per_s"] for r in arrival if r["gateway_saturated"]]
    result["arrival_accuracy"] = {"within_2_percent_up_to": max(within, default=None),
                                  "no_late_or_dropped_start_up_to": max(exact, default=None),
                                  "generator_saturated_from": min(saturated, default=None),
                                  "gateway_saturated_from": min(gateway_saturated, default=None)}
    lines += ["", f"Measured arrival rate within 2% of the plan up to {max(within, default='none')}/s; no late or dropped "
              f"start up to {max(exact, default='none (late starts at the lowest rate)')}/s; the run flagged the generator "
              f"from {min(saturated, default='no tested rate')}/s and the gateway from "
              f"{min(gateway_saturated, default='no tested rate')}/s. A start is late when the iteration's first step ran "
              f"more than 10 ms after its moment."]
    with open("bench/results/streams.json", "w") as f:
        json.dump(result, f, indent=2)
    lines += ["", "Peer, same gateway, same core, same answers:", ""]
    if "skipped" in locust:
        lines.append(f"- Locust: skipped ({locust['skipped']}).")
    else:
        lines += [
            "| generator | streams | tokens/s | TTFT p50 / p99 | inter-token p50 / p99 (median per stream) | core | CPU / 1k tokens | RSS |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            f"| Locust (requests, stream=True) | {locust['users']:,} | {locust['tokens_per_s']:,.0f} | {locust['ttft_p50_ms']:.0f} / "
            f"{locust['ttft_p99_ms']:.0f} ms | {locust['inter_token_p50_ms']:.0f} / {locust['inter_token_p99_ms']:.0f} ms "
            f"| {pct(locust['core_share'])} | {ms(locust['cpu_ms_per_1k_tokens'])} | {locust['peak_rss_mib']:.0f} MiB |",
        ]
        first = closed[0]
        lines.append(
            f"| loadsuite | {first['users']:,} | {first['tokens_per_s']:,.0f} | {first['ttft_p50_ms']:.0f} / {first['ttft_p99_ms']:.0f} ms "
            f"| {first['inter_token_p50_ms']:.0f} / {first['inter_token_p99_ms']:.0f} ms | {pct(first['loadsuite_core_share'])} "
            f"| {ms(first['loadsuite_cpu_ms_per_1k_tokens'])} | {first['loadsuite_peak_rss_mib']:.0f} MiB |")
    with open("bench/results/streams.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
