"""A worker's import graph stays lean: no REST client stack, and each mode loads only what it needs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .callback_runtime import CallbackRuntime, worker_env

REST_STACK = ("httpx", "httpcore", "httpx_sse", "anyio", "attrs", "dateutil", "render_sdk_public_api")

# A worker that reports, after everything else at exit (auto_start included), every module it loaded.
REPORTING_WORKER = """\
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules))))  # registered first, so it runs last

from render_sdk import Workflows

app = Workflows(auto_start=True)


@app.task
def square(a: int) -> int:
    return a * a
"""


def imported_after(statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], env=worker_env(), capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(result.stdout))


def imported_by_worker(socket_dir: Path, mode: str) -> set[str]:
    (socket_dir / "reporting_worker.py").write_text(REPORTING_WORKER)

    async def main() -> str:
        command = [sys.executable, "reporting_worker.py"]
        async with CallbackRuntime(socket_dir, command, socket_dir) as runtime:
            attempt = await runtime.register() if mode == "register" else await runtime.run("square", [3])
        assert attempt.returncode == 0, attempt.stderr
        return attempt.stdout

    return set(json.loads(asyncio.run(main())))


@pytest.mark.parametrize(
    "statement",
    [
        "import render_sdk",
        "from render_sdk import Workflows, Retry, TaskInstance",
        "import render_sdk.workflows._runtime",  # Everything a worker running a task loads.
        "import render_sdk.workflows._register",  # Everything a registering worker loads.
        "import render_sdk.testing",
        "import render_sdk.workflows.cli",
    ],
)
def test_no_rest_client_modules(statement: str) -> None:
    modules = imported_after(statement)
    assert sorted(name for name in modules if name.split(".")[0] in REST_STACK) == []


def test_defining_tasks_loads_no_transport_models_or_event_loop() -> None:
    modules = imported_after("import render_sdk")
    unexpected = {
        "h11",
        "asyncio",
        "dataclasses",  # and inspect with it: Retry and the task options are plain classes
        "inspect",
        "logging",
        "render_sdk_callback_api.models",
        "render_sdk.workflows._transport",
        "render_sdk.workflows._sync_transport",
    }
    assert sorted(unexpected & modules) == []


def test_registering_needs_no_event_loop(socket_dir: Path) -> None:
    modules = imported_by_worker(socket_dir, "register")
    assert "render_sdk.workflows._register" in modules
    unexpected = {
        "asyncio",
        "logging",
        "threading",
        "render_sdk_callback_api.models",
        "render_sdk._protocol.wire",
    }
    assert sorted(unexpected & modules) == []


def test_running_a_task_does_not_load_the_registration(socket_dir: Path) -> None:
    modules = imported_by_worker(socket_dir, "run")
    assert "render_sdk.workflows._runtime" in modules
    assert "render_sdk.workflows._register" not in modules
