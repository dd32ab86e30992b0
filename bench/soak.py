"""`make soak`: a long mixed run against the mocks as their own process, watching for growth.

Runs `mocks serve` on free ports and `loadsuite run soak` against it for SOAK_TIME (default 30m).
Every 10 s it samples the resident memory of both processes, the RAG collection's size and the MCP
sandbox's, and the mocks' own latency per route (from their journal: the time the mock itself
spent, not the network's). Afterwards it compares loadsuite's CSV counts with the mocks' counters.
Writes bench/results/soak.{json,md}. Goals: memory flat within 10% (median of the last fifth against the second
fifth's), the mocks' own latency drift under 20%, counts equal.
"""

import datetime
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

import machine

SOAK = os.environ.get("SOAK_TIME", "30m")
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR") or "target", "release")
OUT = os.environ.get("SOAK_OUT", "results/soak")
COMPARED = ("/v1/chat/completions", "/v1/embeddings", "/v1/index", "/v1/query")


def seconds(text):
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not match:
        sys.exit(f"SOAK_TIME={text}: write e.g. 90s, 10m or 1h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def main():
    host = machine.facts()
    total = seconds(SOAK)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "loadsuite", "-p", "mocks"], check=True)
    ports = {name: free_port() for name in ("gateway", "rag", "mcp")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    mocks = subprocess.Popen(
        [f"{BIN}/mocks", "serve", "--gateway-addr", f"127.0.0.1:{ports['gateway']}",
         "--rag-addr", f"127.0.0.1:{ports['rag']}", "--mcp-addr", f"127.0.0.1:{ports['mcp']}"],
        stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    targets = [arg for name, url in urls.items() for arg in ("--target", f"{name}={url}")]
    load = subprocess.Popen(
        [f"{BIN}/loadsuite", "run", "soak", *targets, "--run-time", f"{total}s", "--quiet", "--overwrite",
         "--no-watch-containers", "--out", OUT], stdout=subprocess.DEVNULL)
    samples = []
    started = time.time()
    seen = set()
    latencies = []
    try:
        while load.poll() is None:
            time.sleep(10)
            t = time.time() - started
            rag = get(f"{urls['rag']}/v1/collections")
            mcp = get(f"{urls['mcp']}/health")
            samples.append({"t_s": round(t, 1), "mocks_rss_kib": rss_kib(mocks.pid),
                            "loadsuite_rss_kib": rss_kib(load.pid),
                            "rag_documents": sum(c.get("documents", 0) for c in rag.get("collections", [])),
                            "mcp_sandbox_bytes": mcp.get("sandbox_bytes")})
            for service in ("gateway", "rag", "mcp"):
                for e in get(f"{urls[service]}/__admin/journal?limit=2000")["entries"]:
                    key = (service, e["seq"])
                    if key not in seen and e["status"] < 400:
                        seen.add(key)
                        latencies.append((t, e["route"], e["latency_ms"]))
        counters = {s: get(f"{urls[s]}/__admin/counters") for s in urls}
        counters_at_end = counters
    finally:
        mocks.terminate()
        mocks.wait()
    run = json.load(open(os.path.join(OUT, "run.json")))
    warm = [s for s in samples if s["t_s"] >= total / 5]

    def flat(key):
        # Resident memory moves with the allocator's arenas from one sample to the next; growth is
        # a trend, so compare the median of the second fifth (after warm-up) with the last fifth's.
        early = [s[key] for s in samples if total / 5 <= s["t_s"] < total * 2 / 5 and s[key] is not None]
        late = [s[key] for s in samples if s["t_s"] >= total * 4 / 5 and s[key] is not None]
        if not early or not late:
            return None
        first, last = statistics.median(early), statistics.median(late)
        return {"after_warmup": first, "end": last, "peak": max(s[key] for s in warm if s[key] is not None),
                "growth": last / first - 1 if first else None}

    drift = {}
    for route in sorted({r for _, r, _ in latencies}):
        early = [ms for t, r, ms in latencies if r == route and total / 5 <= t < total * 2 / 5]
        late = [ms for t, r, ms in latencies if r == route and t >= total * 4 / 5]
        if len(early) >= 30 and len(late) >= 30:
            drift[route] = {"early_median_ms": statistics.median(early), "late_median_ms": statistics.median(late),
                            "drift": statistics.median(late) / max(statistics.median(early), 1e-6) - 1}
    # The routes only the load reaches (the preflight and this script call /health, /v1/models and
    # /v1/collections; MCP sessions add initialize and DELETE to /mcp): requests sent by loadsuite
    # against requests the mocks answered, route by route.
    sent_by_route = {}
    for e in run["endpoints"]:
        route = e["name"].split(" ")[0]
        if e["method"] == "POST" and route in COMPARED:
            sent_by_route[route] = sent_by_route.get(route, 0) + e["requests"]
    seen_by_route = {}
    for view in counters_at_end.values():
        for row in view["requests"]:
            if row.get("method") == "POST" and row.get("route") in COMPARED:
                seen_by_route[row["route"]] = seen_by_route.get(row["route"], 0) + row["count"]
    sent = run["aggregate"]["requests"]
    seen_by_mocks = sum(c["total_requests"] for c in counters_at_end.values())
    result = {
        "date": datetime.date.today().isoformat(), "machine": host, "soak_time_s": total, "samples": samples,
        "memory": {"mocks": flat("mocks_rss_kib"), "loadsuite": flat("loadsuite_rss_kib")},
        "stores": {"rag_documents": flat("rag_documents"), "mcp_sandbox_bytes": flat("mcp_sandbox_bytes")},
        "mock_latency_drift": drift,
        "counts": {"loadsuite_requests": sent, "mocks_requests": seen_by_mocks,
                   "loadsuite_failures": run["aggregate"]["failures"],
                   "by_route": {r: {"loadsuite": sent_by_route.get(r, 0), "mocks": seen_by_route.get(r, 0)}
                                for r in COMPARED}},
    }
    os.makedirs("bench/results", exist_ok=True)
    json.dump(result, open("bench/results/soak.json", "w"), indent=2)
    lines = [f"# Soak ({result['date']}, {total:.0f} s, `scenarios/soak.toml` against `mocks serve`)", "",
             f"Machine: {machine.describe(host)}.", "",
             "| measure | median after warm-up | median at the end | peak | growth | goal |",
             "|---|---:|---:|---:|---:|---|"]
    for name, value, goal in [("mocks RSS (KiB)", result["memory"]["mocks"], "within 10%"),
                              ("loadsuite RSS (KiB)", result["memory"]["loadsuite"], "within 10%"),
                              ("RAG documents", result["stores"]["rag_documents"], "bounded"),
                              ("MCP sandbox bytes", result["stores"]["mcp_sandbox_bytes"], "bounded")]:
        if value:
            lines.append(f"| {name} | {value['after_warmup']:.0f} | {value['end']:.0f} | {value['peak']} "
                         f"| {value['growth']:+.1%} | {goal} |")
    lines += ["", "| route (mocks' own latency) | early median ms | late median ms | drift |", "|---|---:|---:|---:|"]
    for route, d in drift.items():
        lines.append(f"| `{route}` | {d['early_median_ms']:.3f} | {d['late_median_ms']:.3f} | {d['drift']:+.1%} |")
    lines += ["", "| route (POST) | sent by loadsuite | answered by the mocks |", "|---|---:|---:|"]
    for route, c in result["counts"]["by_route"].items():
        lines.append(f"| `{route}` | {c['loadsuite']} | {c['mocks']} |")
    lines += ["", f"All requests: loadsuite counted {sent} ({run['aggregate']['failures']} failed); the mocks "
                  f"counted {seen_by_mocks}, which adds the preflight's, this script's and MCP session set-up."]
    open("bench/results/soak.md", "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
