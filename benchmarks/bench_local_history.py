"""Benchmark 4: the local runtime under history.

With ``--sizes`` (1,000 and 10,000) finished runs in its SQLite store, how fast does ``render-workflows dev``
answer ``GET /v1/task-runs/{id}`` (a random seeded run each time) and ``GET /v1/task-runs?limit=100`` (the
newest page), and how much memory does the server hold?

The server first starts on an empty store with the stdlib floor worker and completes one real run through the
API; then, with the server stopped, ``_seed_history.py`` fills the store up to each size through the runtime's
own state machine, and the server is restarted on the same file for the measurements. Each iteration sends
``--requests`` (200) sequential requests to each endpoint over one keep-alive connection after a few
unmeasured ones, and yields that iteration's p50 and p99; the table shows min / median / max of those over the
iterations. Peak RSS is the server process's VmHWM (its workers are separate processes) after all requests at
that size.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import subprocess
import time

import _harness as h
import httpx
from _local import DevServer, run_and_wait

P50_TARGET_MS = 5.0
RSS_TARGET_MB = 150.0
FLAT_FACTOR = 1.5  # "flat": p50 at the largest size at most this times p50 at the smallest


def timed_gets(client: httpx.Client, urls: list[str]) -> list[float]:
    latencies = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: {response.status_code} {response.text[:300]}")
    return latencies


def main() -> None:
    p = h.parser(__doc__.splitlines()[0])
    p.add_argument(
        "--sizes", default="1000,10000", help="history sizes, comma-separated (default 1000,10000)"
    )
    p.add_argument(
        "--requests", type=int, default=200, help="requests per endpoint per iteration (default 200)"
    )
    args = p.parse_args()
    h.check_args(args)
    sizes = sorted(h.parse_sizes(args.sizes))
    ours = h.our_side()
    worker = [ours.python, str(h.APPS_DIR / "floor_worker.py")]
    rng = random.Random(5)

    report = h.Report("4. Local runtime under history (finished runs in the store)")
    get_case, list_case = "GET /v1/task-runs/{id}", "GET /v1/task-runs?limit=100"
    with DevServer(ours.python, worker, h.reference_env()) as server:
        with httpx.Client(timeout=30) as client:
            run_and_wait(client, server.base_url, "bench/noop", [])
        server.stop()
        for size in sizes:
            subprocess.run(
                [ours.python, str(h.BENCH_DIR / "_seed_history.py"), str(server.db), "noop", str(size)],
                env=ours.env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            with sqlite3.connect(server.db) as db:
                ids = [row[0] for row in db.execute("SELECT id FROM task_runs")]
            if len(ids) < size:
                raise SystemExit(f"store holds {len(ids)} runs, expected {size}")
            server.start()
            label = f"{size:,} runs"
            samples: dict[str, list[float]] = {}
            with httpx.Client(base_url=server.base_url, timeout=30) as client:
                for i in range(args.warmup + args.iterations):
                    by_id = timed_gets(
                        client, [f"/v1/task-runs/{rng.choice(ids)}" for _ in range(args.requests)]
                    )
                    page = timed_gets(client, ["/v1/task-runs?limit=100"] * args.requests)
                    if i < args.warmup:
                        continue
                    for case, latencies in ((get_case, by_id), (list_case, page)):
                        samples.setdefault(f"{case} p50", []).append(statistics.median(latencies))
                        samples.setdefault(f"{case} p99", []).append(h.percentile(latencies, 0.99))
                    h.log(
                        f"{label} iteration {i + 1}: by id p50 {samples[f'{get_case} p50'][-1]:.2f} ms, "
                        f"page p50 {samples[f'{list_case} p50'][-1]:.2f} ms"
                    )
            rss = server.peak_rss_mb()
            report.add("server", "startup to ready", "s", label, [server.ready_seconds], ours=True)
            server.stop()
            for case in (get_case, list_case):
                report.add(case, "p50", "ms", label, samples[f"{case} p50"], ours=True)
                report.add(case, "p99", "ms", label, samples[f"{case} p99"], ours=True)
            report.add("server", "peak RSS", "MB", label, [rss], ours=True)

    report.rows.sort(key=lambda row: (row.case != get_case, row.case != list_case, row.metric))
    small, large = f"{sizes[0]:,} runs", f"{sizes[-1]:,} runs"
    for case in (get_case, list_case):
        p50 = report.median(case, "p50", large)
        assert p50 is not None
        report.target(
            f"{case}: p50 below {P50_TARGET_MS:g} ms at {large}", p50 < P50_TARGET_MS, f"{p50:.2f} ms"
        )
        if len(sizes) > 1:
            base = report.median(case, "p50", small)
            assert base is not None
            report.target(
                f"{case}: flat from {small} to {large} (p50 ratio <= {FLAT_FACTOR:g})",
                p50 <= FLAT_FACTOR * base,
                f"{base:.2f} ms -> {p50:.2f} ms ({p50 / base:.2f}x)",
            )
    rss = max(report.median("server", "peak RSS", f"{size:,} runs") or 0.0 for size in sizes)
    report.target(f"server peak RSS below {RSS_TARGET_MB:g} MB", rss < RSS_TARGET_MB, f"{rss:.1f} MB")
    report.notes.append("No reference column: the official SDKs ship no local runtime to compare with.")
    report.emit(args)


if __name__ == "__main__":
    main()
