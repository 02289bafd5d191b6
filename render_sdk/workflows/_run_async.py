"""Run mode of an async task: an event loop for its body and its subtasks, and its outcome posted from it.

Also awaits, on an event loop, the awaitable that a synchronous body may return (a plain function wrapping a
coroutine function), so that it can start subtasks too.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import Any

from render_sdk._protocol.payload import decode_payload
from render_sdk.client.errors import RenderError
from render_sdk.workflows._callbacks import completed, failed
from render_sdk.workflows._execute import await_returned, run_task_body
from render_sdk.workflows._metadata import TaskRunMetadata
from render_sdk.workflows._socket_transport import SocketTransport
from render_sdk.workflows._subtasks import SocketSubtaskRunner
from render_sdk.workflows._task import Task

__all__ = ["await_on_loop", "run_async"]


def run_async(socket_path: str, task: Task[Any, Any], payload: str, metadata: TaskRunMetadata) -> int:
    """Run the async ``task`` with the base64 input ``payload``, post its outcome; return the exit status."""
    return asyncio.run(_run(SocketTransport(socket_path), task, payload, metadata))


def await_on_loop(
    socket_path: str, task: Task[Any, Any], awaitable: Awaitable[Any], metadata: TaskRunMetadata
) -> Any:
    """Await what the synchronous body of ``task`` returned, its subtasks going over ``socket_path``."""
    return asyncio.run(_await(SocketSubtaskRunner(SocketTransport(socket_path)), task, awaitable, metadata))


async def _run(
    transport: SocketTransport, task: Task[Any, Any], payload: str, metadata: TaskRunMetadata
) -> int:
    runner = SocketSubtaskRunner(transport)
    try:
        input_value = decode_payload(payload, f"task {task.name!r} input")
        try:
            result = await run_task_body(task, input_value, runner, metadata)
        finally:
            await runner.settle()
        outcome, status = completed(result), 0
    except Exception as exc:
        outcome, status = failed(task.name, exc), 1
    try:
        await transport.request("post callback", "POST", "/callback", outcome)
    except RenderError as exc:
        print(f"render_sdk: could not report the outcome: {exc}", file=sys.stderr)
        return 1
    return status


async def _await(
    runner: SocketSubtaskRunner, task: Task[Any, Any], awaitable: Awaitable[Any], metadata: TaskRunMetadata
) -> Any:
    try:
        return await await_returned(task, awaitable, runner, metadata)
    finally:
        await runner.settle()
