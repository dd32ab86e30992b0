"""`make bench-loadgen`: loadsuite beside wrk against the same bare hello-world server, in one run.

The server is pinned to core 0; each generator runs alone on core 1 for the same time with the same
number of connections/users (no think time). Records requests/s and CPU seconds per 1,000 requests
of each generator (from the kernel's rusage of the child), then loadsuite's peak resident memory
with 1,000 and 10,000 users (1 s think time). Peers a user would pick instead run in the same
rounds on the same core when installed (skipped with a note otherwise, never required): oha
(`cargo install oha`) and Locust (`pip install locust`, one process, `HttpUser` with no wait time,
as its users write it; its peak RSS too). Writes bench/results/loadgen.{json,md}.
"""

import datetime
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import machine

DURATION = int(os.environ.get("BENCH_DURATION", "5"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR") or "target", "release")
URL = "http://127.0.0.1:18998/health"


def child_run(cmd):
    """Runs cmd, returns (stdout, cpu seconds, max rss KiB) of that child alone."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, cpu, after.ru_maxrss


LOCUSTFILE = """
from locust import HttpUser, task

class Health(HttpUser):
    @task
    def health(self):
        self.client.get("/health")
"""


def oha():
    """oha on core 1: (requests/s, CPU ms per 1,000 requests, peak RSS MiB)."""
    out, cpu, _ = child_run(["taskset", "-c", "1", "oha", "-z", f"{DURATION}s", "-c", str(CONNECTIONS), "--no-tui", URL])
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))
    return {"rps": rps, "cpu_ms_per_1k": 1e6 * cpu / max(rps * DURATION, 1)}


def locust():
    """One Locust process on core 1, the same users and time: requests/s and CPU per 1,000."""
    directory = tempfile.mkdtemp()
    with open(os.path.join(directory, "locustfile.py"), "w") as f:
        f.write(LOCUSTFILE)
    prefix = os.path.join(directory, "run")
    _, cpu, _ = child_run(["taskset", "-c", "1", "locust", "-f", os.path.join(directory, "locustfile.py"), "--headless",
                           "-u", str(CONNECTIONS), "-r", str(CONNECTIONS), "-t", f"{DURATION}s", "--host",
                           URL.rsplit("/", 1)[0], "--csv", prefix, "--only-summary"])
    with open(prefix + "_stats.csv") as f:
        header = f.readline().strip().split(",")
        rows = [dict(zip(header, line.strip().split(","))) for line in f]
    requests = int(next(r for r in rows if r["Name"] == "Aggregated")["Request Count"])
    return {"rps": requests / DURATION, "cpu_ms_per_1k": 1e6 * cpu / max(requests, 1)}


def loadsuite(users, seconds, extra, out_dir):
    cmd = ["taskset", "-c", "1", f"{BIN}/loadsuite", "run", "--url", URL, "--users", str(users),
           "--spawn-rate", str(users), "--run-time", f"{seconds}s", "--quiet", "--overwrite", "--out", out_dir] + extra
    out, cpu, rss = child_run(cmd)
    if out.returncode not in (0, 1):
        sys.exit(f"loadsuite failed ({out.returncode}): {out.stderr}")
    stats = json.load(open(os.path.join(out_dir, "run.json")))
    return stats["aggregate"]["requests"], stats["duration_s"], cpu, rss


def main():
    host = machine.facts()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "loadsuite", "-p", "hello"], check=True)
    server = subprocess.Popen(["taskset", "-c", "0", f"{BIN}/hello", "127.0.0.1:18998"], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        runs = {"wrk": [], "loadsuite": []}
        peers = {"oha": oha, "locust": locust}
        skipped = {}
        for name in list(peers):
            if shutil.which(name) is None:
                skipped[name] = f"not installed ({'cargo install oha' if name == 'oha' else 'pip install locust'})"
                del peers[name]
            else:
                runs[name] = []
        for _ in range(ROUNDS):
            for name, peer in peers.items():
                runs[name].append(peer())
            out, cpu, _ = child_run(["taskset", "-c", "1", "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION}s", URL])
            requests = int(re.search(r"(\d+) requests in", out.stdout).group(1))
            runs["wrk"].append({"rps": requests / DURATION, "cpu_ms_per_1k": 1e6 * cpu / max(requests, 1)})
            requests, seconds, cpu, _ = loadsuite(CONNECTIONS, DURATION, [], "/tmp/bench-loadsuite")
            runs["loadsuite"].append({"rps": requests / seconds, "cpu_ms_per_1k": 1e6 * cpu / max(requests, 1)})
        memory = {}
        for users in (1000, 10000):
            # A fresh interpreter per measurement so ru_maxrss is this child's peak alone.
            code = ("import resource,subprocess,sys;subprocess.run(sys.argv[1:]);"
                    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
            cmd = [sys.executable, "-c", code, f"{BIN}/loadsuite", "run", "--url", URL, "--users", str(users),
                   "--spawn-rate", str(users), "--run-time", f"{DURATION}s", "--wait", "1", "--quiet",
                   "--overwrite", "--out", f"/tmp/bench-loadsuite-{users}"]
            out = subprocess.run(cmd, capture_output=True, text=True)
            memory[str(users)] = int(out.stdout.strip().splitlines()[-1]) / 1024.0
    finally:
        server.terminate()

    def median(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2]

    med = {k: {m: median([r[m] for r in v]) for m in ("rps", "cpu_ms_per_1k")} for k, v in runs.items()}
    result = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": host,
        "setup": f"hello server on core 0; generator alone on core 1; {CONNECTIONS} connections/users, {DURATION}s, {ROUNDS} rounds, median",
        "runs": runs,
        "median": med,
        "ratio_rps_loadsuite_vs_wrk": med["loadsuite"]["rps"] / med["wrk"]["rps"],
        "loadsuite_peak_rss_mib": memory,
        "peers_skipped": skipped,
        "goals": {"ratio_rps_loadsuite_vs_wrk": ">= 0.9", "rss_10000_users_mib": "< 512"},
    }
    os.makedirs("bench/results", exist_ok=True)
    json.dump(result, open("bench/results/loadgen.json", "w"), indent=2)
    with open("bench/results/loadgen.md", "w") as md:
        md.write(f"# Load generator benchmark ({result['when']})\n\nMachine: {machine.describe(host)}.\n\n{result['setup']}.\n\n")
        md.write("| generator | requests/s | CPU ms per 1,000 requests |\n|---|---:|---:|\n")
        for k, v in med.items():
            md.write(f"| {k} | {v['rps']:,.0f} | {v['cpu_ms_per_1k']:.1f} |\n")
        for name, why in skipped.items():
            md.write(f"| {name} | skipped: {why} | |\n")
        md.write(f"\nloadsuite / wrk requests/s: **{result['ratio_rps_loadsuite_vs_wrk']:.2f}** (goal >= 0.9)\n\n")
        md.write("| loadsuite users (1 s think) | peak RSS MiB |\n|---:|---:|\n")
        for k, v in memory.items():
            md.write(f"| {k} | {v:.1f} |\n")
    print(open("bench/results/loadgen.md").read())


if __name__ == "__main__":
    main()
