"""Benchmark 2: subtask round trips on our local runtime.

Trigger to completed, through the REST API (``POST /v1/task-runs``, then the run's terminal event on
``/v1/task-runs/events``, over one keep-alive connection), for (a) one trivial task, (b) a task awaiting
``--chain`` (20) subtasks one after the other, and (c) a task gathering ``--fan-out`` (100) parallel subtasks.
Every side runs on its own ``render-workflows dev`` server (fresh SQLite store, default concurrency):

- ours: ``benchmarks/apps/subtasks_ours.py``, a cold process per attempt;
- ours, --prefork: the same with the runtime's warm start, when ``dev --help`` offers ``--prefork``;
- render_sdk==0.3.0: the same app on 0.3.0 (``subtasks_render_sdk030.py``), cold, on our runtime;
- floor: ``apps/floor_worker.py``, a stdlib-only process that connects and posts its callback, for (a) only.
  The floor for (b) is derived: (chain + 1) x the floor of (a), one floor process per run on the chain.

A separate "process floor" case times the bare process (spawn, connect, post a callback, answered) against a
minimal Unix-socket server in this process, with no runtime at all.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import time

import _harness as h
import httpx
from _local import DevServer, dev_help, run_and_wait
from _uds_server import CallbackServer

OURS = "ours"
PREFORK = "ours, --prefork"
FLOOR = "floor (stdlib worker)"
REF = h.RENDER_SDK_030.label


def process_floor(python: str, server: CallbackServer) -> h.Sample:
    server.reset()
    env = h.reference_env({"RENDER_SDK_MODE": "run", "RENDER_SDK_SOCKET_PATH": server.socket_path})
    started = time.perf_counter()
    proc = subprocess.Popen([python, str(h.APPS_DIR / "floor_worker.py")], env=env)
    exchange = server.wait_for("/callback", 60)
    _, status, _ = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"floor worker exited with {proc.returncode}")
    return {"trigger to completed": exchange.answered_at - started}


def main() -> None:
    p = h.parser(__doc__.splitlines()[0])
    p.add_argument("--chain", type=int, default=20, help="sequential subtasks in case (b) (default 20)")
    p.add_argument("--fan-out", type=int, default=100, help="parallel subtasks in case (c) (default 100)")
    p.add_argument("--max-concurrency", type=int, help="passed to every dev server (default: its own)")
    args = p.parse_args()
    h.check_args(args)

    ours = h.our_side()
    dev_python = ours.python
    common = ["--max-concurrency", str(args.max_concurrency)] if args.max_concurrency else []
    servers: dict[str, DevServer] = {
        OURS: DevServer(dev_python, [ours.python, str(h.APPS_DIR / "subtasks_ours.py")], ours.env, common),
        FLOOR: DevServer(
            dev_python, [ours.python, str(h.APPS_DIR / "floor_worker.py")], h.reference_env(), common
        ),
    }
    has_prefork = "--prefork" in dev_help(dev_python)
    if has_prefork:
        servers[PREFORK] = DevServer(
            dev_python, [ours.python, str(h.APPS_DIR / "subtasks_ours.py")], ours.env, [*common, "--prefork"]
        )
    if not args.only_ours:
        ref_python = str(h.ensure_reference(h.RENDER_SDK_030))
        servers[REF] = DevServer(
            dev_python, [ref_python, str(h.APPS_DIR / "subtasks_render_sdk030.py")], h.reference_env(), common
        )
    sides = {name: h.Side(name, dev_python, {}, ours=name == OURS) for name in servers}

    report = h.Report("2. Subtask round trips on the local runtime (trigger to completed)")
    metric = {"trigger to completed": "s"}
    cases = [
        ("(a) trivial task", "trivial", [], [OURS, PREFORK, REF, FLOOR]),
        (f"(b) chain of {args.chain} sequential subtasks", "chain", [args.chain], [OURS, PREFORK, REF]),
        (f"(c) fan-out of {args.fan_out} parallel subtasks", "fan_out", [args.fan_out], [OURS, PREFORK, REF]),
    ]
    with contextlib.ExitStack() as stack:
        for server in servers.values():
            stack.enter_context(server)
        client = stack.enter_context(httpx.Client(timeout=httpx.Timeout(30.0)))

        def run(side: h.Side, task: str, input_data: list[int]) -> h.Sample:
            server = servers[side.name]
            name = "noop" if side.name == FLOOR else task
            return {
                "trigger to completed": run_and_wait(client, server.base_url, f"bench/{name}", input_data)
            }

        for case, task, input_data, names in cases:
            case_sides = [sides[n] for n in names if n in sides]
            samples = h.alternate(
                case_sides,
                functools.partial(run, task=task, input_data=input_data),
                iterations=args.iterations,
                warmup=args.warmup,
                label=case,
            )
            report.add_samples(case, case_sides, samples, metric)

    case_a, case_b = cases[0][0], cases[1][0]
    floor_a = next(row for row in report.rows if row.case == case_a and row.side == FLOOR)
    report.add(
        case_b,
        "trigger to completed",
        "s",
        f"floor x{args.chain + 1} (derived)",
        [v * (args.chain + 1) for v in floor_a.values],
    )
    with CallbackServer() as uds:
        samples = h.alternate(
            [h.Side("process floor", dev_python, {})],
            lambda side: process_floor(side.python, uds),
            iterations=args.iterations,
            warmup=args.warmup,
            label="process floor",
        )
    report.add(
        "process floor (no runtime)",
        "trigger to completed",
        "s",
        "stdlib process",
        [s["trigger to completed"] for s in samples["process floor"]],
    )

    metric_name = "trigger to completed"
    for who in [OURS, PREFORK] if has_prefork else [OURS]:
        report.ratio_target(f"(b) {who}: at least 5x faster than {REF}", case_b, metric_name, who, REF, 0.2)
        report.ratio_target(f"(a) {who}: within 2x of the floor", case_a, metric_name, who, FLOOR, 2.0)
        report.ratio_target(
            f"(b) {who}: within 2x of the floor",
            case_b,
            metric_name,
            who,
            f"floor x{args.chain + 1} (derived)",
            2.0,
        )
    if not has_prefork:
        report.notes.append("`render-workflows dev --prefork` is not available yet: no warm-start column.")
    report.notes.append(
        f"Default worker concurrency of the dev server unless --max-concurrency is given "
        f"({args.max_concurrency or 'default'})."
    )
    report.emit(args)


if __name__ == "__main__":
    main()
