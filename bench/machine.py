"""The machine a benchmark ran on, written beside its figures.

CPU costs per request or token move by half or more between hosts of the same 2-core shared pool
(on 2026-12-07 loadsuite's CPU per streamed token was 1.6-1.7x that of an earlier host of the pool,
the gateway's 1.35-1.6x, for the same build), so a figure is only comparable with one from the same
processor and cache. Every result file names them: the CPU model, the cores this process may use,
the L2 and L3 sizes, the kernel, whether it is a virtual machine, and the load average when the
benchmark began (how shared the machine was).
"""

import os


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return "unknown CPU", False
    model = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("model name")), "unknown CPU")
    virtual = any(l.startswith("flags") and " hypervisor" in l for l in lines)
    return model, virtual


def _cache(level):
    """Size of the unified cache of `level` seen by CPU 0 (e.g. "512K"), or None."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = os.listdir(base)
    except OSError:
        return None
    for entry in sorted(entries):
        path = os.path.join(base, entry)
        try:
            with open(os.path.join(path, "level")) as f:
                found = int(f.read())
            with open(os.path.join(path, "type")) as f:
                kind = f.read().strip()
            with open(os.path.join(path, "size")) as f:
                size = f.read().strip()
        except (OSError, ValueError):
            continue
        if found == level and kind == "Unified":
            return size
    return None


def facts(load_average=None):
    """The machine as a dict, for the JSON results (`load_average`: the one taken when the benchmark
    began, when that was before this call)."""
    model, virtual = _cpu_model()
    return {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)),
        "l2": _cache(2),
        "l3": _cache(3),
        "kernel": os.uname().release,
        "virtual_machine": virtual,
        "load_average_at_start": round(os.getloadavg()[0] if load_average is None else load_average, 2),
    }


def describe(f=None):
    """One line for a Markdown header, e.g. "AMD EPYC, 2 cores, L2 512K, L3 32768K, Linux 6.18.44,
    virtual machine, load average 0.33 at start"."""
    f = f or facts()
    parts = [f["cpu"], f"{f['cores']} cores"]
    parts += [f"{name.upper()} {f[name]}" for name in ("l2", "l3") if f.get(name)]
    parts.append(f"Linux {f['kernel']}")
    if f.get("virtual_machine"):
        parts.append("virtual machine")
    parts.append(f"load average {f['load_average_at_start']} at start")
    return ", ".join(parts)
