"""Benchmark 3: waiting on many runs.

A client process starts ``--runs`` (200, then 10,000) runs at once with ``run_task`` and awaits every one
(``apps/client_wait_*.py``, through ``apps/_wait_many.py``), through our ``Render`` client,
``render==1.5.0``'s ``RenderAsync`` and ``render_sdk==0.3.0``'s ``Render``, against one ``render-workflows
dev`` server.

The server runs ``apps/subtasks_ours.py`` with ``--prefork`` (each attempt forked from a pre-imported
worker, about 5 ms, against 20-25 ms for even the stdlib floor worker started cold), so the runtime's share of
the time is as small as it can be and the same for every client: what differs is what each client costs.
``--cold-floor-worker`` runs the stdlib floor worker (``apps/floor_worker.py``) cold instead. The client talks
to the server through a counting TCP proxy in this process (``_proxy.py``), which reports every connection the
client opened, how many of them carried an event stream, the most open at once, and how many requests were
sent.

Wall time is measured inside the client process, from just before the first ``run_task`` to the last result
(imports and client construction excluded: benchmark 5 covers those); client CPU is that process's CPU time
over the same span. A client still waiting at ``--time-limit`` is stopped there: its wall is then the limit (a
lower bound on what it would have taken), and the runs it finished are shown.
"""

from __future__ import annotations

import json
import subprocess

import _harness as h
from _local import DevServer
from _proxy import CountingProxy

OURS = "ours"
R150 = h.RENDER_150.label
R030 = h.RENDER_SDK_030.label
# Ours and 0.3.0 share the seed's client API, so one program serves both.
SEED_CLIENT = "client_wait_render_sdk.py"
APPS = {OURS: SEED_CLIENT, R150: "client_wait_render150.py", R030: SEED_CLIENT}
# Sizes from here on run --iterations-large times, without warm-up: one run lasts minutes.
LARGE = 1000
METRICS = {
    "wall": "s",
    "client CPU": "s",
    "runs finished": "count",
    "TCP connections": "count",
    "event-stream connections": "count",
    "most connections open at once": "count",
    "HTTP requests": "count",
}


def run_once(side: h.Side, proxy: CountingProxy, runs: int, task: str, time_limit: float) -> h.Sample:
    proxy.reset()
    done = subprocess.run(
        [side.python, str(h.APPS_DIR / APPS[side.name]), proxy.base_url, task, str(runs), str(time_limit)],
        env=side.env,
        cwd=h.APPS_DIR,
        capture_output=True,
        text=True,
        timeout=time_limit + 120,
        check=False,
    )
    counts = proxy.reset()
    if done.returncode != 0:
        raise SystemExit(f"{side.name} client failed ({done.returncode}):\n{done.stderr[-4000:]}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    if measured["failed"]:
        h.log(f"{side.name}: {measured['failed']} of {runs} waits raised, the first: {measured['error']}")
        if side.ours:
            raise SystemExit(f"{side.name}: {measured['failed']} of {runs} waits raised: {measured['error']}")
    return {
        "time limit": time_limit,
        "wall": measured["wall"],
        "client CPU": measured["client CPU"],
        "runs finished": measured["finished"],
        "TCP connections": counts.connections,
        "event-stream connections": counts.event_stream_connections,
        "most connections open at once": counts.peak_open,
        "HTTP requests": counts.requests,
    }


def main() -> None:
    p = h.parser(__doc__.splitlines()[0])
    p.add_argument(
        "--runs",
        default="200,10000",
        help="concurrent runs to start and await, comma-separated (default 200,10000)",
    )
    p.add_argument(
        "--iterations-large",
        type=int,
        default=1,
        help=f"counted runs per side for sizes of {LARGE:,} runs or more, without warm-up (default 1)",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=900.0,
        help=f"seconds a client may wait in one run (default 900); from {LARGE:,} runs on, a reference waits "
        "3x ours' latest wall at that size plus 5 s instead",
    )
    p.add_argument("--max-concurrency", type=int, help="passed to the dev server (default: its own)")
    p.add_argument(
        "--cold-floor-worker",
        action="store_true",
        help="run the stdlib floor worker cold instead of this SDK's worker with --prefork",
    )
    args = p.parse_args()
    h.check_args(args)
    sizes = h.parse_sizes(args.runs)
    open_files = h.raise_open_files_limit()

    ours = h.our_side()
    sides = [ours]
    if not args.only_ours:
        sides += [h.reference_side(h.RENDER_150), h.reference_side(h.RENDER_SDK_030)]
    options = ["--max-concurrency", str(args.max_concurrency)] if args.max_concurrency else []
    if args.cold_floor_worker:
        worker = [ours.python, str(h.APPS_DIR / "floor_worker.py")]
        task, worker_note, worker_env = "bench/noop", "the stdlib floor worker", h.reference_env()
    else:
        worker = [ours.python, str(h.APPS_DIR / "subtasks_ours.py")]
        task, worker_note, worker_env = "bench/leaf", "this SDK's", ours.env
        options.append("--prefork")

    title = " and ".join(f"{n:,}" for n in sizes)
    report = h.Report(f"3. Waiting on many runs ({title} concurrent run_task + await)")
    ours_walls: dict[int, float] = {}  # ours' latest wall per size, when it finished every wait

    def measure(side: h.Side, proxy: CountingProxy, runs: int) -> h.Sample:
        time_limit = args.time_limit
        if runs >= LARGE and not side.ours and runs in ours_walls:
            # A reference still waiting at 3x ours' wall has decided the target (ours is 3x faster): stop it
            # there, neither sooner (the target would stay open) nor later (it would only tell how much more
            # slowly it finishes).
            time_limit = 3 * ours_walls[runs] + 5
        sample = run_once(side, proxy, runs, task, time_limit)
        if side.ours and sample["runs finished"] == runs:
            ours_walls[runs] = sample["wall"]
        return sample

    server = DevServer(ours.python, worker, worker_env, options)
    with server, CountingProxy(server.port) as proxy:
        for runs in sizes:
            case = f"{runs:,} runs"
            large = runs >= LARGE
            samples = h.alternate(
                sides,
                lambda side, runs=runs: measure(side, proxy, runs),
                iterations=args.iterations_large if large else args.iterations,
                warmup=0 if large else args.warmup,
                label=case,
            )
            report.add_samples(case, sides, samples, METRICS)
            add_targets(report, case, runs, samples)
    report.notes.append(
        f"Worker: {worker_note} ({' '.join(options) or 'no options'}). Dev server concurrency: "
        f"{args.max_concurrency or 'its default'} (--max-concurrency). Open-files limit: {open_files:,}."
    )
    report.emit(args)


def add_targets(report: h.Report, case: str, runs: int, samples: dict[str, list[h.Sample]]) -> None:
    ours_streams = max(s["event-stream connections"] for s in samples[OURS])
    if runs <= 200:
        report.target(
            f"{case}: at most 2 event-stream connections for all waits",
            ours_streams <= 2,
            f"{ours_streams:.0f} (worst counted run)",
        )
    ours_unfinished = [s for s in samples[OURS] if s["runs finished"] < runs]
    for other in (R150, R030):
        if other not in samples:
            continue
        description = f"{case}: at least 3x faster than {other}"
        if ours_unfinished:
            limit = max(s["time limit"] for s in ours_unfinished)
            report.target(description, False, f"ours did not finish within the {limit:g} s limit")
            continue
        unfinished = [s for s in samples[other] if s["runs finished"] < runs]
        if not unfinished:
            report.ratio_target(description, case, "wall", OURS, other, 1 / 3)
            continue
        # The reference was stopped at its time limit: its wall is a lower bound, so the ratio an upper bound.
        finished = min(s["runs finished"] for s in unfinished)
        limit = max(s["time limit"] for s in unfinished)
        ours_wall, other_wall = report.median(case, "wall", OURS), report.median(case, "wall", other)
        assert ours_wall is not None and other_wall is not None
        ratio = ours_wall / other_wall
        report.target(
            description,
            ratio <= 1 / 3,
            f"at most {ratio:.2f}x (needs <= 0.333x): {other} was stopped at its time limit in "
            f"{len(unfinished)} of {len(samples[other])} runs",
        )
        report.notes.append(
            f"{case}: {other} was stopped at its time limit ({limit:.0f} s at most) with "
            f"{finished:,.0f} of {runs:,} runs finished (at worst); its wall is the limit, a lower bound."
        )


if __name__ == "__main__":
    main()
