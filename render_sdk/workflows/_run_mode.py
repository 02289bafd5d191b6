"""Run mode: get the one task run's input over the callback socket, run the task, and post its outcome.

Imported only when a worker runs a task, so defining tasks (and importing ``render_sdk``) stays cheap.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import Any

from render_sdk_callback_api.models import CallbackRequest, TaskComplete, TaskError, TaskInput

from render_sdk._protocol.wire import WireError, decode_payload, encode_payload
from render_sdk.client.errors import RenderError
from render_sdk.workflows._callbacks import CallbackClient, SocketSubtaskRunner
from render_sdk.workflows._execute import describe_error, run_task_body
from render_sdk.workflows._socket_transport import SocketTransport
from render_sdk.workflows._task import Task, TaskRunMetadata

__all__ = ["run"]


def run(socket_path: str, tasks: Mapping[str, Task[Any, Any]]) -> int:
    """Run the task the callback API on ``socket_path`` names, report its outcome; return the exit status."""
    return asyncio.run(_run(CallbackClient(SocketTransport(socket_path)), tasks))


async def _run(client: CallbackClient, tasks: Mapping[str, Task[Any, Any]]) -> int:
    try:
        task_input, metadata = await client.get_input()
    except (RenderError, WireError) as exc:
        print(f"render_sdk: could not get the task input: {exc}", file=sys.stderr)
        return 1
    try:
        result = await _run_task(client, tasks, task_input, metadata)
    except Exception as exc:
        details, stack_trace = describe_error(exc)
        print(f"render_sdk: task {task_input.task_name!r} failed\n{stack_trace}", end="", file=sys.stderr)
        await _post(client, CallbackRequest(error=TaskError(details=details, stack_trace=stack_trace)))
        return 1
    delivered = await _post(client, CallbackRequest(complete=TaskComplete(output=encode_payload([result]))))
    return 0 if delivered else 1


async def _run_task(
    client: CallbackClient,
    tasks: Mapping[str, Task[Any, Any]],
    task_input: TaskInput,
    metadata: TaskRunMetadata,
) -> Any:
    name = task_input.task_name
    task = tasks.get(name)
    if task is None:
        raise LookupError(
            f"task {name!r} is not defined by this worker; it defines: {', '.join(tasks) or 'nothing'}"
        )
    input_value = decode_payload(task_input.input, f"task {name!r} input")
    runner = SocketSubtaskRunner(client)
    try:
        return await run_task_body(task, input_value, runner, metadata)
    finally:
        await runner.settle()


async def _post(client: CallbackClient, callback: CallbackRequest) -> bool:
    try:
        await client.post_callback(callback)
    except RenderError as exc:
        print(f"render_sdk: could not report the outcome: {exc}", file=sys.stderr)
        return False
    return True
