"""Benchmark 3: waiting on many runs.

A client process starts ``--runs`` (200) runs at once with ``run_task`` and awaits every one
(``apps/client_wait_*.py``: ``asyncio.gather`` over ``await (await render.workflows.run_task(...))``), through
our ``Render`` client and through ``render_sdk==0.3.0``'s, against one ``render-workflows dev`` server.

The server runs ``apps/subtasks_ours.py`` with ``--prefork`` (each attempt forked from a pre-imported
worker, about 5 ms, against 20-25 ms for even the stdlib floor worker started cold), so the runtime's share of
the time is as small as it can be and the same for both clients: what differs is what each client costs.
``--cold-floor-worker`` runs the stdlib floor worker (``apps/floor_worker.py``) cold instead. The client talks
to the server through a counting TCP proxy in this process (``_proxy.py``), which reports every connection the
client opened, how many of them carried an event stream, and how many requests were sent.

Wall time is measured inside the client process, from just before the first ``run_task`` to the last result
(imports and client construction excluded: benchmark 5 covers those); client CPU is that process's CPU time
over the same span.
"""

from __future__ import annotations

import json
import subprocess

import _harness as h
from _local import DevServer
from _proxy import CountingProxy

APPS = {"ours": "client_wait_ours.py", h.RENDER_SDK_030.label: "client_wait_render_sdk030.py"}


def run_once(side: h.Side, proxy: CountingProxy, runs: int, side_task: str) -> h.Sample:
    proxy.reset()
    done = subprocess.run(
        [side.python, str(h.APPS_DIR / APPS[side.name]), proxy.base_url, side_task, str(runs)],
        env=side.env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    counts = proxy.reset()
    if done.returncode != 0:
        raise SystemExit(f"{side.name} client failed ({done.returncode}):\n{done.stderr[-4000:]}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "wall": measured["wall"],
        "client CPU": measured["client CPU"],
        "TCP connections": counts.connections,
        "event-stream connections": counts.event_stream_connections,
        "HTTP requests": counts.requests,
    }


def main() -> None:
    p = h.parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=200, help="concurrent runs to start and await (default 200)")
    p.add_argument("--max-concurrency", type=int, help="passed to the dev server (default: its own)")
    p.add_argument(
        "--cold-floor-worker",
        action="store_true",
        help="run the stdlib floor worker cold instead of this SDK's worker with --prefork",
    )
    args = p.parse_args()
    h.check_args(args)

    ours = h.our_side()
    sides = [ours]
    if not args.only_ours:
        sides.append(h.reference_side(h.RENDER_SDK_030))
    options = ["--max-concurrency", str(args.max_concurrency)] if args.max_concurrency else []
    if args.cold_floor_worker:
        worker = [ours.python, str(h.APPS_DIR / "floor_worker.py")]
        task, worker_note, worker_env = "bench/noop", "the stdlib floor worker", h.reference_env()
    else:
        worker = [ours.python, str(h.APPS_DIR / "subtasks_ours.py")]
        task, worker_note, worker_env = "bench/leaf", "this SDK's", ours.env
        options.append("--prefork")

    report = h.Report(f"3. Waiting on many runs ({args.runs} concurrent run_task + await)")
    case = f"{args.runs} runs"
    server = DevServer(ours.python, worker, worker_env, options)
    with server, CountingProxy(server.port) as proxy:
        samples = h.alternate(
            sides,
            lambda side: run_once(side, proxy, args.runs, task),
            iterations=args.iterations,
            warmup=args.warmup,
            label=case,
        )
    report.add_samples(
        case,
        sides,
        samples,
        {
            "wall": "s",
            "client CPU": "s",
            "TCP connections": "count",
            "event-stream connections": "count",
            "HTTP requests": "count",
        },
    )
    ours_streams = max(s["event-stream connections"] for s in samples["ours"])
    report.target(
        f"at most 2 event-stream connections for all {args.runs} waits",
        ours_streams <= 2,
        f"{ours_streams:.0f} (worst counted run)",
    )
    report.ratio_target("at least 3x faster", case, "wall", "ours", h.RENDER_SDK_030.label, 1 / 3)
    report.notes.append(
        f"Worker: {worker_note} ({' '.join(options) or 'no options'}). Dev server concurrency: "
        f"{args.max_concurrency or 'its default'} (--max-concurrency)."
    )
    report.emit(args)


if __name__ == "__main__":
    main()
