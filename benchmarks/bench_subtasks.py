"""Benchmark 2: subtask round trips on our local runtime.

Trigger to completed, through the REST API (``POST /v1/task-runs``, then the run's terminal event on
``/v1/task-runs/events``, over one keep-alive connection), for (a) one trivial task, (b) a task awaiting
``--chain`` (20) subtasks one after the other, and (c) a task gathering ``--fan-out`` (100) parallel subtasks.
Every side runs on its own ``render-workflows dev`` server (fresh SQLite store, default concurrency):

- ours: ``benchmarks/apps/subtasks_ours.py``, a cold process per attempt;
- ours, --prefork: the same with the runtime's warm start, when ``dev --help`` offers ``--prefork``;
- render==1.5.0: the same tasks in 1.5.0's idiom (``subtasks_render150.py``: ``ctx: TaskContext`` first,
  ``await ctx.run(leaf, i)``), cold, on our runtime;
- render_sdk==0.3.0: the same app on 0.3.0 (``subtasks_render_sdk030.py``), cold, on our runtime;
- floor: ``apps/floor_worker.py``, a stdlib-only process that speaks the callback protocol itself (its own
  ``noop`` for (a); ``chain`` and ``fan_out`` through ``/run-subtask`` and ``/get-subtask-result``), cold.

A separate "process floor" case times the bare process (spawn, connect, read its input, post a callback,
answered) against a minimal Unix-socket server in this process, with no runtime at all.
"""

from __future__ import annotations

import functools
import os
import subprocess
import time

import _harness as h
import httpx
from _local import DevServer, dev_help, run_and_wait, running
from _uds_server import CallbackServer

OURS = "ours"
PREFORK = "ours, --prefork"
FLOOR = "floor (stdlib worker)"
R150 = h.RENDER_150.label
R030 = h.RENDER_SDK_030.label
METRIC = "trigger to completed"
# The floor worker's name for a task where it differs from the apps'.
FLOOR_TASKS = {"trivial": "noop"}


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
    return {METRIC: exchange.answered_at - started}


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

    def server(python: str, app: str, env: dict[str, str], *options: str) -> DevServer:
        return DevServer(dev_python, [python, str(h.APPS_DIR / app)], env, [*common, *options])

    servers = {OURS: server(ours.python, "subtasks_ours.py", ours.env)}
    has_prefork = "--prefork" in dev_help(dev_python)
    if has_prefork:
        servers[PREFORK] = server(ours.python, "subtasks_ours.py", ours.env, "--prefork")
    if not args.only_ours:
        references = {h.RENDER_150: "subtasks_render150.py", h.RENDER_SDK_030: "subtasks_render_sdk030.py"}
        for ref, app in references.items():
            servers[ref.label] = server(str(h.ensure_reference(ref)), app, h.reference_env())
    servers[FLOOR] = server(ours.python, "floor_worker.py", h.reference_env())
    sides = [h.Side(name, dev_python, {}, ours=name == OURS) for name in servers]

    report = h.Report("2. Subtask round trips on the local runtime (trigger to completed)")
    case_a, case_b, case_c = (
        "(a) trivial task",
        f"(b) chain of {args.chain} sequential subtasks",
        f"(c) fan-out of {args.fan_out} parallel subtasks",
    )
    cases = [(case_a, "trivial", []), (case_b, "chain", [args.chain]), (case_c, "fan_out", [args.fan_out])]
    with running(servers.values()), httpx.Client(timeout=httpx.Timeout(30.0)) as client:

        def run(side: h.Side, task: str, input_data: list[int]) -> h.Sample:
            if side.name == FLOOR:
                task = FLOOR_TASKS.get(task, task)
            return {METRIC: run_and_wait(client, servers[side.name].base_url, f"bench/{task}", input_data)}

        for case, task, input_data in cases:
            samples = h.alternate(
                sides,
                functools.partial(run, task=task, input_data=input_data),
                iterations=args.iterations,
                warmup=args.warmup,
                label=case,
            )
            report.add_samples(case, sides, samples, {METRIC: "s"})

    with CallbackServer() as uds:
        samples = h.alternate(
            [h.Side("process floor", dev_python, {})],
            lambda side: process_floor(side.python, uds),
            iterations=args.iterations,
            warmup=args.warmup,
            label="process floor",
        )
    process_samples = [sample[METRIC] for sample in samples["process floor"]]
    report.add("process floor (no runtime)", METRIC, "s", "stdlib process", process_samples)

    def target(case: str, who: str, description: str, other: str, at_most: float) -> None:
        report.ratio_target(f"{case.split()[0]} {who}: {description}", case, METRIC, who, other, at_most)

    target(case_b, OURS, f"at least 5x faster than {R030}", R030, 0.2)
    target(case_a, OURS, "within 2x of the floor", FLOOR, 2.0)
    target(case_b, OURS, "within 2x of the floor", FLOOR, 2.0)
    for case in (case_b, case_c):
        target(case, OURS, f"at least 2x faster than {R150}", R150, 0.5)
    if has_prefork:
        target(case_b, PREFORK, f"at least 5x faster than {R030}", R030, 0.2)
        target(case_a, PREFORK, "within 2x of the floor", FLOOR, 2.0)
        for case in (case_b, case_c):
            target(case, PREFORK, f"at least 5x faster than {R150}", R150, 0.2)
            target(case, PREFORK, "within 1.5x of the floor", FLOOR, 1.5)
    else:
        report.notes.append("`render-workflows dev --prefork` is not available yet: no warm-start column.")
    report.notes.append(
        f"{', '.join(name for name in (R150, R030, FLOOR) if name in servers)}: cold (a process per attempt, "
        "no --prefork); the warm start forks a pre-imported worker of this SDK."
    )
    report.notes.append(
        f"Default worker concurrency of the dev server unless --max-concurrency is given "
        f"({args.max_concurrency or 'default'})."
    )
    report.emit(args)


if __name__ == "__main__":
    main()
