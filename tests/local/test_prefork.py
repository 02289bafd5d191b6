"""``render-workflows dev --prefork``: attempts forked from a pre-imported worker, with cold-start fallbacks.

The scenarios that must behave the same with and without prefork (seed tasks, exits, timeouts, cancel,
concurrency) are in ``test_e2e.py``, run in both modes; this file holds what only prefork has.

Everything here runs the real runtime and real processes; "forked" is checked from the outside: a forked
attempt's parent is the zygote (its pid is in the banner), a cold-started one's is the runtime.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from render_sdk import RenderSync
from render_sdk.local.attempts.prefork import NotPreforkable, PythonCommand, parse_python_command
from render_sdk.workflows._zygote import REHEARSALS

from .processes import HTTP, pid_alive, wait_until, zygote_pid

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

WORKERS = Path(__file__).resolve().parent / "workers"
PREFORK = ["--prefork"]

WHOAMI_WORKER = """\
import os
import random
import sys

from render_sdk import Retry, Workflows

{preamble}
app = Workflows(default_retry=Retry(max_retries=0, wait_duration_ms=0), auto_start=True)
VERSION = {version}


@app.task
def whoami() -> dict:
    print("hello on stdout")
    print("hello on stderr", file=sys.stderr)
    return {{
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "pgid": os.getpgid(0),
        "sid": os.getsid(0),
        "mode": os.environ.get("RENDER_SDK_MODE"),
        "socket": os.environ.get("RENDER_SDK_SOCKET_PATH"),
        "random": random.random(),
        "stdin": os.readlink("/proc/self/fd/0"),
        "argv": sys.argv,
        "main_file": getattr(sys.modules["__main__"], "__file__", None),
        "path0": sys.path[0],
        "version": VERSION,
    }}
"""


def write_worker(directory: Path, preamble: str = "", version: int = 1) -> Path:
    path = directory / "worker.py"
    path.write_text(WHOAMI_WORKER.format(preamble=textwrap.dedent(preamble), version=version))
    return path


def run(server: Any, task: str, input_data: Any) -> Any:
    with RenderSync(base_url=server.url) as render:
        return render.workflows.run_task(f"wf/{task}", input_data).wait(timeout=60)


@pytest.mark.parametrize("form", ["script", "module"])
def test_attempts_are_forked_with_the_cold_start_contract(
    start_local_runtime: Any, tmp_path: Path, form: str
) -> None:
    write_worker(tmp_path)
    worker = [sys.executable, "worker.py"] if form == "script" else [sys.executable, "-m", "worker"]
    cold_server = start_local_runtime(worker, cwd=tmp_path)
    cold = run(cold_server, "whoami", []).results[0]
    server = start_local_runtime(worker, cwd=tmp_path, args=PREFORK)
    zygote = zygote_pid(server)
    first, second = run(server, "whoami", []), run(server, "whoami", [])
    for finished in (first, second):
        me = finished.results[0]
        assert me["ppid"] == zygote != server.process.pid  # forked by the zygote, not started by the runtime
        assert me["pid"] == me["pgid"] == me["sid"]  # its own session and process group, as when cold
        assert me["mode"] == cold["mode"] == "run"
        assert me["stdin"] == cold["stdin"] == "/dev/null"
        # What the program sees of how it was started is what `python worker.py` / `python -m worker` shows.
        for key in ("argv", "main_file", "path0"):
            assert me[key] == cold[key], key
        logs = HTTP.get(f"{server.url}/v1/logs", params={"taskRun": finished.id}).json()["logs"]
        lines = {
            (next(label["value"] for label in log["labels"] if label["name"] == "type"), log["message"])
            for log in logs
        }
        assert {("stdout", "hello on stdout"), ("stderr", "hello on stderr")} <= lines
    one, two = first.results[0], second.results[0]
    assert one["pid"] != two["pid"]
    assert one["socket"] != two["socket"]
    assert one["random"] != two["random"]
    # A run is complete once its report is committed; the process exits just after it is answered.
    wait_until(lambda: not pid_alive(one["pid"]) and not pid_alive(two["pid"]), message="both children gone")


def test_non_python_command_starts_cold(start_local_runtime: Any, tmp_path: Path) -> None:
    write_worker(tmp_path)
    server = start_local_runtime(["/usr/bin/env", sys.executable, "worker.py"], cwd=tmp_path, args=PREFORK)
    line = server.wait_for_output("Prefork:")
    assert "off: `/usr/bin/env` is not a Python interpreter" in line
    me = run(server, "whoami", []).results[0]
    assert parent_of_pid_was_runtime(me, server)


def parent_of_pid_was_runtime(me: dict[str, Any], server: Any) -> bool:
    """A cold start's parent is the runtime (env execs the interpreter in place)."""
    return bool(me["ppid"] == server.process.pid and me["pid"] == me["pgid"])


def test_thread_at_import_falls_back_to_cold_starts(start_local_runtime: Any, tmp_path: Path) -> None:
    write_worker(
        tmp_path,
        preamble="""
        import threading
        import time

        threading.Thread(target=time.sleep, args=(600,), name="import-time-sleeper", daemon=True).start()
        """,
    )
    server = start_local_runtime([sys.executable, "worker.py"], cwd=tmp_path, args=PREFORK)
    line = server.wait_for_output("Prefork:")
    assert "off: the program runs 2 threads after import (import-time-sleeper)" in line
    assert "every attempt starts the worker command" in line
    assert parent_of_pid_was_runtime(run(server, "whoami", []).results[0], server)


def test_serving_at_import_falls_back_to_cold_starts(start_local_runtime: Any, tmp_path: Path) -> None:
    path = write_worker(tmp_path)
    path.write_text(path.read_text() + "\napp.start()\n")
    server = start_local_runtime([sys.executable, "worker.py"], cwd=tmp_path, args=PREFORK)
    assert "off: the program serves its tasks while being imported" in server.wait_for_output("Prefork:")
    assert parent_of_pid_was_runtime(run(server, "whoami", []).results[0], server)


def test_source_change_and_zygote_death_start_a_new_zygote(start_local_runtime: Any, tmp_path: Path) -> None:
    path = write_worker(tmp_path, version=1)
    server = start_local_runtime([sys.executable, "worker.py"], cwd=tmp_path, args=PREFORK)
    first_zygote = zygote_pid(server)
    assert run(server, "whoami", []).results[0]["version"] == 1

    write_worker(tmp_path, version=2)
    os.utime(path, (time.time() + 5, time.time() + 5))  # a changed mtime even on coarse clocks
    server.wait_for_output("Registered tasks")
    me = wait_until(
        lambda: (found := run(server, "whoami", []).results[0])["version"] == 2 and found,
        message="the new code runs",
    )
    second_zygote = me["ppid"]
    assert second_zygote != first_zygote
    wait_until(lambda: not pid_alive(first_zygote), message="the old zygote exited")

    os.kill(second_zygote, signal.SIGKILL)
    wait_until(lambda: not pid_alive(second_zygote), message="the zygote died")
    me = run(server, "whoami", []).results[0]
    assert me["version"] == 2
    assert me["ppid"] not in (second_zygote, server.process.pid)  # a third zygote forked it
    server.wait_for_output("exited; starting another")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["python", "main.py", "--flag"], PythonCommand("python", (), ("main.py", "--flag"))),
        (
            ["python3.11", "-u", "-X", "dev", "main.py"],
            PythonCommand("python3.11", ("-u", "-X", "dev"), ("main.py",)),
        ),
        (
            ["/usr/bin/python3", "-Wignore", "-m", "pkg.worker", "a"],
            PythonCommand("/usr/bin/python3", ("-Wignore",), ("-m", "pkg.worker", "a")),
        ),
        ([sys.executable, "-B", "main.py"], PythonCommand(sys.executable, ("-B",), ("main.py",))),
    ],
)
def test_python_commands_are_recognised(tmp_path: Path, argv: list[str], expected: PythonCommand) -> None:
    (tmp_path / "main.py").write_text("")
    assert parse_python_command(argv, tmp_path) == expected


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["node", "main.js"], "`node` is not a Python interpreter"),
        (["render-workflows", "main:app"], "`render-workflows` is not a Python interpreter"),
        (["python", "-c", "print(1)"], "the interpreter option `-c` is not supported"),
        (["python", "missing.py"], "`missing.py` is not a Python source file"),
        (["python", "-m"], "`-m` without a module name"),
        (["python", "-u"], "names no script or module"),
    ],
)
def test_other_commands_are_not_preforked(tmp_path: Path, argv: list[str], reason: str) -> None:
    with pytest.raises(NotPreforkable, match=re.escape(reason)):
        parse_python_command(argv, tmp_path)


REHEARSAL = """
import json, os, threading
from render_sdk import Workflows
import render_sdk.workflows._serving as serving
import render_sdk.workflows._zygote as zygote

app = Workflows(auto_start=True)
ran = []

@app.task
def program_task() -> None:
    ran.append(1)

statuses = []
serve = serving.serve
serving.serve = lambda tasks: statuses.append(serve(tasks)) or statuses[-1]

def descriptors():
    return sorted(os.listdir("/proc/self/fd"))

before = (descriptors(), dict(os.environ))
zygote._rehearse()
print(json.dumps({
    "statuses": statuses,
    "program_task_ran": bool(ran),
    "served": serving.PROCESS.served,
    "threads": len(os.listdir("/proc/self/task")),
    "same_descriptors": descriptors() == before[0],
    "same_environment": dict(os.environ) == before[1],
}))
"""


def test_the_zygote_rehearses_attempts_and_is_left_as_it_was(subprocess_env: dict[str, str]) -> None:
    """Before forking, the zygote serves stand-in attempts itself (so children run warm code); nothing of the
    program runs, and no thread, descriptor, variable or served state is left behind."""
    done = subprocess.run(
        [sys.executable, "-c", REHEARSAL], env=subprocess_env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "statuses": [0] * REHEARSALS,
        "program_task_ran": False,
        "served": False,
        "threads": 1,
        "same_descriptors": True,
        "same_environment": True,
    }
