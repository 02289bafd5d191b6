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
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time

import _harness as h
from _uds_server import CallbackServer

APPS = {
    "ours": "coldstart_ours.py",
    h.RENDER_150.label: "coldstart_render150.py",
    h.RENDER_SDK_030.label: "coldstart_render_sdk030.py",
    "floor (stdlib only)": "floor_worker.py",
}
EXPECTED_TASKS = {"floor (stdlib only)": 1}
TIMEOUT = 60.0


def run_once(side: h.Side, server: CallbackServer) -> h.Sample:
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
    args = h.parser(__doc__.splitlines()[0]).parse_args()
    h.check_args(args)
    sides = [h.our_side()]
    if not args.only_ours:
        sides += [h.reference_side(h.RENDER_150), h.reference_side(h.RENDER_SDK_030)]
    sides.append(h.Side("floor (stdlib only)", sides[0].python, h.reference_env()))

    report = h.Report("1. Worker cold start (fresh process, 20 tasks, register exchange over a Unix socket)")
    with CallbackServer() as server:
        samples = h.alternate(
            sides,
            lambda side: run_once(side, server),
            iterations=args.iterations,
            warmup=args.warmup,
            label="cold start",
        )
        report.add_samples("cold start", sides, samples, {"register": "s", "exit": "s", "peak RSS": "MB"})
        for side in sides:
            report.add("cold start", "modules imported", "count", side, [count_modules(side, server)])
    report.ratio_target(
        "cold start median <= 0.5x render==1.5.0", "cold start", "register", "ours", h.RENDER_150.label, 0.5
    )
    report.notes.append(
        "register = spawn to the server's answer to POST /register-tasks; exit = spawn to the reaped exit."
    )
    report.emit(args)


if __name__ == "__main__":
    main()
