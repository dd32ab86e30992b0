"""`make bench-segments`: one loadsuite process against two execution segments of the same plan.

The plan: 64 users, no think time, against the bare hello-world server. Run as one process, then as
`--segment 0/2` and `--segment 1/2` side by side from one `--start-at`, merged with `loadsuite merge`.
Two placements, interleaved over rounds, medians kept:
  - `pinned`: server on core 0; the generator(s) on core 1 (what splitting costs on one core);
  - `shared`: nothing pinned (both cores shared by the server and the generators).
Records merged requests/s (and checks the merge equals the sum of its parts) and the time `merge`
takes. Writes bench/results/segments.{json,md}.
"""

import datetime
import json
import os
import subprocess
import time

import machine

DURATION = int(os.environ.get("BENCH_DURATION", "5"))
USERS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR") or "target", "release")
PORT = 18997
URL = f"http://127.0.0.1:{PORT}/health"
TMP = "/tmp/bench-segments"


def command(pin, users, out, extra=()):
    cmd = [f"{BIN}/loadsuite", "run", "--url", URL, "--users", str(users), "--spawn-rate", str(users),
           "--run-time", f"{DURATION}s", "--quiet", "--overwrite", "--out", out, *extra]
    return (["taskset", "-c", "1"] if pin else []) + cmd


def rps(out):
    run = json.load(open(os.path.join(out, "run.json")))
    return run["aggregate"]["requests"] / run["duration_s"], run["aggregate"]["requests"]


def one_process(pin, tag):
    out = f"{TMP}/{tag}-single"
    subprocess.run(command(pin, USERS, out), check=False, capture_output=True)
    return rps(out)[0]


def two_segments(pin, tag):
    start = f"{time.time() + 1.0:.3f}"
    outs = [f"{TMP}/{tag}-seg{i}" for i in range(2)]
    procs = [subprocess.Popen(command(pin, USERS, outs[i], ["--segment", f"{i}/2", "--start-at", start]),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(2)]
    for p in procs:
        p.wait()
    merged = f"{TMP}/{tag}-merged"
    began = time.perf_counter()
    subprocess.run([f"{BIN}/loadsuite", "merge", *outs, "--out", merged], check=True, capture_output=True)
    merge_s = time.perf_counter() - began
    rate, total = rps(merged)
    parts = sum(rps(o)[1] for o in outs)
    assert total == parts, f"merged {total} != parts {parts}"
    return rate, merge_s


def main():
    host = machine.facts()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "loadsuite", "-p", "hello"], check=True)
    results = {}
    for placement, pin in (("pinned", True), ("shared", False)):
        server_cmd = (["taskset", "-c", "0"] if pin else []) + [f"{BIN}/hello", f"127.0.0.1:{PORT}"]
        server = subprocess.Popen(server_cmd, stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        try:
            single, split, merges = [], [], []
            for r in range(ROUNDS):
                single.append(one_process(pin, f"{placement}{r}"))
                rate, merge_s = two_segments(pin, f"{placement}{r}")
                split.append(rate)
                merges.append(merge_s)
        finally:
            server.terminate()
            server.wait()
        med = lambda xs: sorted(xs)[len(xs) // 2]
        results[placement] = {
            "one_process_rps": single,
            "two_segments_rps": split,
            "merge_seconds": merges,
            "median_one_process_rps": med(single),
            "median_two_segments_rps": med(split),
            "ratio_two_segments_vs_one": med(split) / med(single),
            "median_merge_seconds": med(merges),
        }
    result = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": host,
        "setup": f"{USERS} users, no think time, {DURATION}s per run, {ROUNDS} interleaved rounds, medians; "
                 "pinned: server core 0, generators core 1; shared: nothing pinned",
        "placements": results,
    }
    os.makedirs("bench/results", exist_ok=True)
    with open("bench/results/segments.json", "w") as f:
        json.dump(result, f, indent=2)
    lines = ["# Execution segments: one process vs two", "", f"{result['when']}: {result['setup']}", "", f"Machine: {machine.describe(host)}.", "",
             "| placement | one process req/s | two segments req/s (merged) | ratio | merge time |",
             "|---|---:|---:|---:|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['median_one_process_rps']:,.0f} | {r['median_two_segments_rps']:,.0f} | "
                     f"{r['ratio_two_segments_vs_one']:.2f}x | {r['median_merge_seconds'] * 1000:.0f} ms |")
    with open("bench/results/segments.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
