"""A worker's import graph stays lean: no REST client stack, and each mode loads only what it needs."""

from __future__ import annotations

import ast
import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .callback_runtime import REPO_ROOT, CallbackRuntime, worker_env

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


@app.task
async def cube(a: int) -> int:
    return a * a * a
"""

# The local runtime's HTTP library and the generated callback models: a worker parses its answers with
# httptools and builds and reads its few callback bodies itself (render_sdk.workflows._callbacks), in every
# mode.
RUNTIME_SIDE = {"h11", "dataclasses", "render_sdk_callback_api.models", "render_sdk._protocol.wire"}


def imported_after(statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], env=worker_env(), capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(result.stdout))


def imported_by_worker(
    socket_dir: Path, mode: str, *, through_cli: bool = False, task: str = "square"
) -> set[str]:
    (socket_dir / "reporting_worker.py").write_text(REPORTING_WORKER)

    async def main() -> str:
        command = [sys.executable, "reporting_worker.py"]
        if through_cli:
            command = [sys.executable, "-m", "render_sdk", "reporting_worker:app"]
        async with CallbackRuntime(socket_dir, command, socket_dir) as runtime:
            attempt = await runtime.register() if mode == "register" else await runtime.run(task, [3])
        assert attempt.returncode == 0, attempt.stderr
        return attempt.stdout

    return set(json.loads(asyncio.run(main())))


@pytest.mark.parametrize(
    "statement",
    [
        "import render_sdk",
        "from render_sdk import Workflows, Retry, TaskInstance",
        "import render_sdk.workflows._run_mode",  # Everything a worker running a task loads.
        "import render_sdk.workflows._register",  # Everything a registering worker loads.
        "import render_sdk.testing",
        "import render_sdk._cli",
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
        "render_sdk.workflows._socket_transport",
        "render_sdk.workflows._sync_socket_transport",
    }
    assert sorted(unexpected & modules) == []


def test_registering_needs_no_event_loop(socket_dir: Path) -> None:
    modules = imported_by_worker(socket_dir, "register")
    assert "render_sdk.workflows._register" in modules
    assert sorted({"asyncio", "logging", "threading", *RUNTIME_SIDE} & modules) == []


def test_a_sync_task_runs_without_an_event_loop(socket_dir: Path) -> None:
    modules = imported_by_worker(socket_dir, "run")
    unexpected = {
        "asyncio",
        "threading",
        "inspect",  # the body's signature is read from its code object
        "logging",  # loaded only to warn about a retried request
        "traceback",  # loaded only to describe a failure
        "uuid",  # and datetime: only a task that starts subtasks needs them
        "datetime",
        "render_sdk.workflows._run_async",
        "render_sdk.workflows._subtasks",
        "render_sdk.workflows._socket_transport",
        *RUNTIME_SIDE,
    }
    assert sorted(unexpected & modules) == []
    # Beyond what defining the tasks loads, running one needs socket and httptools (15 modules with what
    # they import), base64 and ten small modules of ours: 28 on CPython 3.11. An event loop alone would add
    # some 60.
    added = modules - imported_after("import render_sdk")
    assert len(added) <= 30, sorted(added)


def test_an_async_task_loads_no_http_library_or_models(socket_dir: Path) -> None:
    modules = imported_by_worker(socket_dir, "run", task="cube")
    assert "asyncio" in modules
    assert sorted({"uuid", "datetime", "render_sdk.workflows._register", *RUNTIME_SIDE} & modules) == []


@pytest.mark.parametrize("through_cli", [False, True], ids=["script", "render-workflows MODULE:APP"])
def test_running_a_task_does_not_load_the_registration(socket_dir: Path, through_cli: bool) -> None:
    modules = imported_by_worker(socket_dir, "run", through_cli=through_cli)
    assert sorted(name for name in modules if name.startswith("render_sdk.local") or name == "argparse") == []
    assert "render_sdk.workflows._run_mode" in modules
    assert "render_sdk.workflows._register" not in modules


def workflows_imports() -> dict[str, set[str]]:
    """For each module of render_sdk.workflows, the SDK modules it imports (lazily too; not for typing)."""
    package = REPO_ROOT / "render_sdk" / "workflows"
    graph: dict[str, set[str]] = {}
    for path in sorted(package.glob("*.py")):
        name = "render_sdk.workflows" + ("" if path.stem == "__init__" else f".{path.stem}")
        tree = ast.parse(path.read_text())
        typing_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
            for statement in block.body
            for node in ast.walk(statement)
        }
        imported: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
        graph[name] = {module for module in imported if module.startswith("render_sdk")}
    return graph


def test_workflows_imports_nothing_of_the_local_runtime_and_has_no_cycle() -> None:
    graph = workflows_imports()
    assert {
        name: sorted(m for m in mods if m.startswith("render_sdk.local")) for name, mods in graph.items()
    } == {name: [] for name in graph}

    def cycle_from(start: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        for module in sorted(graph.get(path[-1], ())):
            if module == start:
                return (*path, module)
            if module in graph and module not in path:
                found = cycle_from(start, (*path, module))
                if found:
                    return found
        return None

    assert [cycle for name in graph if (cycle := cycle_from(name, (name,)))] == []
