"""Benchmark 5: importing the REST client in a fresh process.

``python -c "from render_sdk import Render"`` against ``from render import Render`` on ``render==1.5.0``
(whose ``Render`` is the sync client; the import is what is measured) and ``from render_sdk import Render`` on
``render_sdk==0.3.0``. ``python -c pass`` is the floor. Time is spawn to reaped exit; peak RSS comes from the
child's ``rusage``; modules are counted in an extra untimed run under ``-X importtime``.
"""

from __future__ import annotations

import functools
import os
import subprocess
import time

import _harness as h

BASE = "http://127.0.0.1:8120"

CASES = {
    "import": {
        "ours": "from render_sdk import Render",
        h.RENDER_150.label: "from render import Render",
        h.RENDER_SDK_030.label: "from render_sdk import Render",
        "floor (python -c pass)": "pass",
    },
    # 1.5.0 defers its REST machinery to the first construction, so importing alone hides most of its cost.
    # Constructing the async client (ours: Render; 1.5.0: RenderAsync) shows what a caller really pays.
    "import + construct async client": {
        "ours": f"from render_sdk import Render; Render(token='rnd_x', base_url='{BASE}')",
        h.RENDER_150.label: f"from render import RenderAsync; RenderAsync(token='rnd_x', base_url='{BASE}')",
        h.RENDER_SDK_030.label: f"from render_sdk import Render; Render(token='rnd_x', base_url='{BASE}')",
        "floor (python -c pass)": "pass",
    },
}


def run_once(side: h.Side, codes: dict[str, str]) -> h.Sample:
    code = codes[side.name]
    started = time.perf_counter()
    proc = subprocess.Popen([side.python, "-c", code], env=side.env, cwd=h.APPS_DIR, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    errors = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{side.name}: exit code {proc.returncode}:\n{errors}")
    return {"time": elapsed, "peak RSS": usage.ru_maxrss / 1024}


def count_modules(side: h.Side, code: str) -> int:
    done = subprocess.run(
        [side.python, "-X", "importtime", "-c", code],
        env=side.env,
        cwd=h.APPS_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return h.modules_imported(done.stderr)


def main() -> None:
    args = h.parser(__doc__.splitlines()[0]).parse_args()
    h.check_args(args)
    sides = [h.our_side()]
    if not args.only_ours:
        sides += [h.reference_side(h.RENDER_150), h.reference_side(h.RENDER_SDK_030)]
    sides.append(h.Side("floor (python -c pass)", sides[0].python, h.reference_env()))

    report = h.Report("5. Client import (`from render_sdk import Render` in a fresh process)")
    for case, code in CASES.items():
        samples = h.alternate(
            sides,
            functools.partial(run_once, codes=code),
            iterations=args.iterations,
            warmup=args.warmup,
            label=case,
        )
        report.add_samples(case, sides, samples, {"time": "s", "peak RSS": "MB"})
        for side in sides:
            report.add(case, "modules imported", "count", side, [count_modules(side, code[side.name])])
    report.notes.append(
        "time = spawn to reaped exit of `python -c '<code>'`; ours is `Render`, the async client."
    )
    report.emit(args)


if __name__ == "__main__":
    main()
