"""Benchmark 1: worker cold start.

A fresh ``python app.py`` process imports the SDK, defines 20 tasks and completes a register exchange over a
real Unix socket (``RENDER_SDK_MODE=register``). Each side runs the same app written idiomatically for its SDK
(``benchmarks/apps/coldstart_*.py``); a stdlib-only script that posts a fixed task list is the floor.

Measured per run, from just before ``Popen`` to:
- ``register``: the server has answered ``POST /register-tasks`` (what the platform waits for);
- ``exit``: the process has exited and been reaped (its whole lifetime, interpreter teardown included).
Peak RSS comes from the reaped child's ``rusage`` (no instrumentation inside the process). Modules imported is
counted in one extra, untimed run per side under ``python -X importtime``, which logs every module the process
imports during its whole life, including imports made by an ``atexit`` hook such as ``auto_start``.

A further side, ``render-workflows dev``, times the local runtime's start with the same 20-task app (ours):
from spawning ``render-workflows dev -- python coldstart_ours.py`` to its REST API listing the 20 tasks
(``GET /v1/tasks``, polled every 10 ms). It is compared with ours' ``register`` time, the floor of any start:
the runtime has to run the worker in register mode once before it can list anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time

import _harness as h
from _local import DevServer
from _uds_server import CallbackServer

APPS = {
    "ours": "coldstart_ours.py",
    h.RENDER_150.label: "coldstart_render150.py",
    h.RENDER_SDK_030.label: "coldstart_render_sdk030.py",
    "floor (stdlib only)": "floor_worker.py",
}
EXPECTED_TASKS = {"floor (stdlib only)": 4}
TIMEOUT = 60.0
DEV = "render-workflows dev"
DEV_CASE = "start to ready (20 tasks)"


def dev_start(side: h.Side) -> h.Sample:
    """Spawn ``render-workflows dev`` on ours' 20-task app; seconds until its API lists the tasks."""
    worker = [side.python, str(h.APPS_DIR / APPS["ours"])]
    with DevServer(side.python, worker, side.env) as server:
        tasks = server.get_json("/v1/tasks?limit=100")
        if len(tasks) != 20:
            raise SystemExit(f"{DEV}: lists {len(tasks)} tasks, expected 20")
        return {"time": server.ready_seconds}


def run_once(side: h.Side, server: CallbackServer) -> h.Sample:
    if side.name == DEV:
        return dev_start(side)
    server.reset()
    app = h.APPS_DIR / APPS[side.name]
    env = side.env | {"RENDER_SDK_MODE": "register", "RENDER_SDK_SOCKET_PATH": server.socket_path}
    with tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen([side.python, str(app)], env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            exchange = server.wait_for("/register-tasks", TIMEOUT)
        except TimeoutError:
            proc.kill()
            proc.wait()
            stderr.seek(0)
            raise SystemExit(f"{side.name}: no registration; stderr:\n{stderr.read().decode()}") from None
        _, status, usage = os.wait4(proc.pid, 0)
        exited = time.perf_counter()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            stderr.seek(0)
            raise SystemExit(f"{side.name}: exit code {proc.returncode}; stderr:\n{stderr.read().decode()}")
    tasks = json.loads(exchange.body)["tasks"]
    expected = EXPECTED_TASKS.get(side.name, 20)
    if len(tasks) != expected:
        raise SystemExit(f"{side.name}: registered {len(tasks)} tasks, expected {expected}")
    return {
        "register": exchange.answered_at - started,
        "exit": exited - started,
        "peak RSS": usage.ru_maxrss / 1024,
    }


def count_modules(side: h.Side, server: CallbackServer) -> int:
    """Modules the process imports over its whole life, as logged by ``-X importtime``."""
    server.reset()
    app = h.APPS_DIR / APPS[side.name]
    env = side.env | {"RENDER_SDK_MODE": "register", "RENDER_SDK_SOCKET_PATH": server.socket_path}
    done = subprocess.run(
        [side.python, "-X", "importtime", str(app)], env=env, capture_output=True, text=True, check=True
    )
    return h.modules_imported(done.stderr)


def main() -> None:
    p = h.parser(__doc__.splitlines()[0])
    p.add_argument(
        "--count-modules",
        choices=("all", "ours", "none"),
        default="all",
        help="whose imported modules to count in an extra -X importtime run (default all)",
    )
    args = p.parse_args()
    h.check_args(args)
    ours = h.our_side()
    sides = [ours]
    if not args.only_ours:
        sides += [h.reference_side(h.RENDER_150), h.reference_side(h.RENDER_SDK_030)]
    sides.append(h.Side("floor (stdlib only)", ours.python, h.reference_env()))
    dev = h.Side(DEV, ours.python, ours.env, ours=True)

    report = h.Report("1. Worker cold start (fresh process, 20 tasks, register exchange over a Unix socket)")
    with CallbackServer() as server:
        samples = h.alternate(
            [*sides, dev],
            lambda side: run_once(side, server),
            iterations=args.iterations,
            warmup=args.warmup,
            label="cold start",
        )
        report.add_samples("cold start", sides, samples, {"register": "s", "exit": "s", "peak RSS": "MB"})
        counted = {"all": sides, "ours": [ours], "none": []}[args.count_modules]
        for side in counted:
            report.add("cold start", "modules imported", "count", side, [count_modules(side, server)])
    # The dev server's start beside its floor, ours' register time: the ratio column is dev / register.
    report.add(DEV_CASE, "time", "s", dev, [s["time"] for s in samples[DEV]])
    register = [s["register"] for s in samples[ours.name]]
    report.add(DEV_CASE, "time", "s", "worker alone (ours: import + register)", register, ours=False)
    report.ratio_target(
        "cold start median <= 0.5x render==1.5.0", "cold start", "register", "ours", h.RENDER_150.label, 0.5
    )
    report.notes.append(
        "register = spawn to the server's answer to POST /register-tasks; exit = spawn to the reaped exit."
    )
    report.notes.append(
        f"{DEV_CASE}: spawn of `render-workflows dev -- python coldstart_ours.py` to its API listing the 20 "
        "tasks; the ratio is that over ours' register time (the same samples as the cold start row)."
    )
    report.emit(args)


if __name__ == "__main__":
    main()
