"""Benchmark 6: throughput of the local runtime (many trivial runs through the REST API).

``--runs`` (1,000) trivial runs go through one ``render-workflows dev`` server per side, at most
``--concurrency`` (50) in flight: each is started with ``POST /v1/task-runs`` and awaited on its own event
stream (``GET /v1/task-runs/events?taskRunIds=ID``) by a separate load process (``apps/throughput_client.py``:
stdlib asyncio, HTTP written by hand, so that the load costs little CPU and the same on every side; its CPU is
measured and shown). Sides, each on its own server (fresh SQLite store, default concurrency):

- ours: ``apps/throughput_ours.py`` (``square``), a cold process per attempt;
- ours, --prefork: the same, each attempt forked from the pre-imported worker;
- floor: ``apps/floor_worker.py``, the stdlib-only worker, a cold process per attempt.

Per iteration: runs/s (runs over the wall time from the first request to the last terminal event), p50 and
p99 of each run's latency (request sent to terminal event read), the CPU per run of the dev server process
itself (``/proc/PID/stat``: user + system), of its workers (the zygote and every attempt: whatever the
server's descendants used, reaped or alive) and of the load client, and the server's peak RSS (VmHWM). Two
cores give 2,000 ms of CPU per second: at 300 runs/s, 6.7 ms per run for all three together.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import _harness as h
from _local import DevServer

OURS = "ours"
PREFORK = "ours, --prefork"
FLOOR = "floor (stdlib worker)"
PREFORK_RUNS_PER_SECOND = 300.0
COLD_RUNS_PER_SECOND = 25.0
FLOOR_FACTOR = 1.5
_TICKS = os.sysconf("SC_CLK_TCK")
_SETTLE_SECONDS = 10.0

METRICS = {
    "throughput": "runs/s",
    "p50 latency": "s",
    "p99 latency": "s",
    "server CPU per run": "ms",
    "workers CPU per run": "ms",
    "client CPU per run": "ms",
    "total CPU per run": "ms",
    "server peak RSS": "MB",
}


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()  # fields from the state (3rd) on


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def cpu_seconds(pid: int) -> tuple[float, float, int]:
    """The server's own CPU seconds, its descendants' (reaped or alive), and how many of those are alive."""
    children = _children()

    def descendants(parent: int) -> tuple[float, int]:
        total, alive = 0.0, 0
        for child in children.get(parent, []):
            fields = _stat(child)
            if fields is None:
                continue
            own = sum(int(x) for x in fields[11:15]) / _TICKS  # utime, stime, cutime, cstime
            below, count = descendants(child)
            total, alive = total + own + below, alive + 1 + count
        return total, alive

    fields = _stat(pid)
    assert fields is not None, f"dev server {pid} is gone"
    own = (int(fields[11]) + int(fields[12])) / _TICKS
    reaped = (int(fields[13]) + int(fields[14])) / _TICKS
    below, alive = descendants(pid)
    return own, reaped + below, alive


def run_once(side: h.Side, server: DevServer, task: str, runs: int, concurrency: int) -> h.Sample:
    server_before, workers_before, idle_processes = cpu_seconds(server.pid)
    done = subprocess.run(
        [
            side.python,
            str(h.APPS_DIR / "throughput_client.py"),
            "127.0.0.1",
            str(server.port),
            task,
            str(runs),
            str(concurrency),
        ],
        env=h.reference_env(),
        cwd=h.APPS_DIR,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{side.name}: load client failed ({done.returncode}):\n{done.stderr[-4000:]}")
    # The last attempts' processes may still be exiting: their CPU counts once they are gone.
    deadline = time.monotonic() + _SETTLE_SECONDS
    while (after := cpu_seconds(server.pid))[2] > idle_processes and time.monotonic() < deadline:
        time.sleep(0.05)
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    latencies = measured["latencies"]
    if len(latencies) != runs:
        raise SystemExit(f"{side.name}: {len(latencies)} of {runs} runs finished")
    cpu = {
        "server CPU per run": (after[0] - server_before) * 1000 / runs,
        "workers CPU per run": (after[1] - workers_before) * 1000 / runs,
        "client CPU per run": measured["cpu"] * 1000 / runs,
    }
    return {
        "throughput": runs / measured["wall"],
        "p50 latency": h.percentile(latencies, 0.5),
        "p99 latency": h.percentile(latencies, 0.99),
        **cpu,
        "total CPU per run": sum(cpu.values()),
        "server peak RSS": server.peak_rss_mb(),
    }


def plot(report: h.Report, sides: list[str], path: Path, runs: int, concurrency: int) -> None:
    """Throughput and p50/p99 latency per side, as a PNG (matplotlib, the ``benchmark`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def row(metric: str, side: str) -> h.Row:
        return next(r for r in report.rows if r.metric == metric and r.side == side)

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    positions = range(len(sides))
    rates = [row("throughput", side) for side in sides]
    left.bar(
        positions,
        [r.median for r in rates],
        yerr=[[r.median - min(r.values) for r in rates], [max(r.values) - r.median for r in rates]],
        color=["#8da0cb", "#66c2a5", "#bbbbbb"][: len(sides)],
        capsize=4,
    )
    for x, r in zip(positions, rates, strict=True):
        left.annotate(
            f"{r.median:.0f}",
            (x, r.median),
            ha="center",
            va="bottom",
            xytext=(8, 2),
            textcoords="offset points",
        )
    left.axhline(PREFORK_RUNS_PER_SECOND, color="#1b9e77", linestyle="--", linewidth=1)
    left.axhline(COLD_RUNS_PER_SECOND, color="#7570b3", linestyle="--", linewidth=1)
    left.set_xticks(list(positions), sides)
    left.set_ylabel("runs/s (median, min-max)")
    left.set_title("Throughput (targets dashed: prefork 300, cold 25)")
    width = 0.38
    bars = ((-width / 2, "p50 latency", "#8da0cb"), (width / 2, "p99 latency", "#fc8d62"))
    for offset, metric, color in bars:
        values = [row(metric, side).median * 1000 for side in sides]
        drawn = right.bar(
            [x + offset for x in positions], values, width, label=metric.split()[0], color=color
        )
        right.bar_label(drawn, fmt="%.0f", fontsize=8)
    right.set_xticks(list(positions), sides)
    right.set_ylabel("create to terminal event, ms (median)")
    right.set_title("Latency")
    right.legend()
    cores = h.machine()["cores"]
    fig.suptitle(f"render-workflows dev: {runs} trivial runs, {concurrency} in flight, {cores} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = h.parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1000, help="runs per iteration and side (default 1000)")
    p.add_argument("--concurrency", type=int, default=50, help="runs in flight at once (default 50)")
    p.add_argument("--max-concurrency", type=int, help="passed to every dev server (default: its own)")
    p.add_argument("--plot", type=Path, help="also draw throughput and latency per side into this PNG")
    args = p.parse_args()
    h.check_args(args)

    ours = h.our_side()
    common = ["--max-concurrency", str(args.max_concurrency)] if args.max_concurrency else []
    app = [ours.python, str(h.APPS_DIR / "throughput_ours.py")]
    floor = [ours.python, str(h.APPS_DIR / "floor_worker.py")]
    servers = {
        OURS: DevServer(ours.python, app, ours.env, common),
        PREFORK: DevServer(ours.python, app, ours.env, [*common, "--prefork"]),
        FLOOR: DevServer(ours.python, floor, h.reference_env(), common),
    }
    tasks = {OURS: "bench/square", PREFORK: "bench/square", FLOOR: "bench/noop"}
    sides = [h.Side(name, ours.python, {}, ours=name == PREFORK) for name in servers]
    case = f"{args.runs} runs, {args.concurrency} in flight"
    report = h.Report(f"6. Throughput of the local runtime ({case})")
    with contextlib.ExitStack() as stack:
        for server in servers.values():
            stack.enter_context(server)
        samples = h.alternate(
            sides,
            lambda side: run_once(side, servers[side.name], tasks[side.name], args.runs, args.concurrency),
            iterations=args.iterations,
            warmup=args.warmup,
            label=case,
        )
    report.add_samples(case, sides, samples, METRICS)

    rate = {name: statistics.median(s["throughput"] for s in samples[name]) for name in servers}
    report.target(
        f"{PREFORK}: at least {PREFORK_RUNS_PER_SECOND:g} runs/s",
        rate[PREFORK] >= PREFORK_RUNS_PER_SECOND,
        f"{rate[PREFORK]:.0f} runs/s",
    )
    report.target(
        f"{PREFORK}: within {FLOOR_FACTOR:g}x of the floor worker's throughput",
        rate[FLOOR] / rate[PREFORK] <= FLOOR_FACTOR,
        f"floor / prefork = {rate[FLOOR] / rate[PREFORK]:.2f}x (needs <= {FLOOR_FACTOR:g}x)",
    )
    report.target(
        f"{OURS} (cold): at least {COLD_RUNS_PER_SECOND:g} runs/s",
        rate[OURS] >= COLD_RUNS_PER_SECOND,
        f"{rate[OURS]:.0f} runs/s",
    )
    report.notes.append(
        "Ratios are ours, --prefork / the other side; for throughput, above 1 means --prefork is faster."
    )
    cores = h.machine()["cores"]
    total = {name: statistics.median(s["total CPU per run"] for s in samples[name]) for name in servers}
    report.notes.append(
        "CPU per run: server = the dev server process; workers = its descendants (zygote, attempts); "
        "client = the load process over the measured span. With the machine to itself, "
        f"{cores} cores allow at most {cores} x 1000 / total CPU ms runs/s: "
        + ", ".join(f"{name} {cores * 1000 / total[name]:.0f}" for name in servers)
        + " (this machine is shared, so the measured runs/s are lower)."
    )
    report.notes.append(
        f"Dev server concurrency: {args.max_concurrency or 'its default'} (--max-concurrency)."
    )
    if args.plot:
        plot(report, list(servers), args.plot, args.runs, args.concurrency)
    report.emit(args)


if __name__ == "__main__":
    main()
