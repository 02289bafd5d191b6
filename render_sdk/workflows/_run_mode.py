"""Run mode: get the one task run's input over the callback socket, run the task, and post its outcome.

Imported only when a worker runs a task, so defining tasks (and importing ``render_sdk``) stays cheap. A
synchronous task, which cannot start subtasks, runs in the main thread with blocking socket calls: no event
loop, no thread, neither asyncio nor threading imported. An async task gets its event loop from
:mod:`render_sdk.workflows._run_async`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from render_sdk._protocol.payload import WireError, decode_payload
from render_sdk.client.errors import RenderError
from render_sdk.workflows._callbacks import completed, failed, read_input
from render_sdk.workflows._execute import check_result, is_awaitable, run_inline
from render_sdk.workflows._metadata import TaskRunMetadata
from render_sdk.workflows._sync_socket_transport import SyncSocketTransport
from render_sdk.workflows._task import Task

__all__ = ["run"]


def run(socket_path: str, tasks: Mapping[str, Task[Any, Any]]) -> int:
    """Run the task the callback API on ``socket_path`` names, report its outcome; return the exit status."""
    transport = SyncSocketTransport(socket_path)
    try:
        task_name, payload, metadata = read_input(transport.request("get input", "GET", "/input"))
    except (RenderError, WireError) as exc:
        print(f"render_sdk: could not get the task input: {exc}", file=sys.stderr)
        return 1
    task = tasks.get(task_name)
    if task is not None and task.is_async:
        from render_sdk.workflows._run_async import run_async

        return run_async(socket_path, task, payload, metadata)
    try:
        outcome, status = completed(_run_sync(socket_path, tasks, task_name, payload, metadata)), 0
    except Exception as exc:
        outcome, status = failed(task_name, exc), 1
    try:
        transport.request("post callback", "POST", "/callback", outcome)
    except RenderError as exc:
        print(f"render_sdk: could not report the outcome: {exc}", file=sys.stderr)
        return 1
    return status


def _run_sync(
    socket_path: str,
    tasks: Mapping[str, Task[Any, Any]],
    task_name: str,
    payload: str,
    metadata: TaskRunMetadata,
) -> Any:
    task = tasks.get(task_name)
    if task is None:
        raise LookupError(
            f"task {task_name!r} is not defined by this worker; it defines: {', '.join(tasks) or 'nothing'}"
        )
    result = run_inline(task, decode_payload(payload, f"task {task_name!r} input"), metadata)
    if is_awaitable(result):  # A plain function that returned a coroutine: it needs an event loop after all.
        from render_sdk.workflows._run_async import await_on_loop

        result = await_on_loop(socket_path, task, result, metadata)
    return check_result(task, result)
