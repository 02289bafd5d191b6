"""The worker process: register every task, or run the one task Render asks for, over the callback socket.

Imported only when a worker starts serving, so defining tasks (and importing ``render_sdk``) stays cheap.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from typing import Any

from render_sdk_callback_api.models import CallbackRequest, TaskComplete, TaskError, Tasks

from render_sdk._wire import decode_payload, encode_payload
from render_sdk.client.errors import RenderError
from render_sdk.workflows._app import MODE_VARIABLE, SOCKET_VARIABLE
from render_sdk.workflows._callbacks import CallbackClient, SocketSubtaskRunner
from render_sdk.workflows._execute import describe_error, run_task_body
from render_sdk.workflows._task import Task
from render_sdk.workflows._transport import CallbackTransport

__all__ = ["MODES", "serve"]

MODES = ("register", "run")


def serve(tasks: Mapping[str, Task[Any, Any]]) -> int:
    """Register ``tasks`` or run one of them, as ``RENDER_SDK_MODE`` says; return the process exit status.

    Raises:
        ValueError: ``RENDER_SDK_MODE`` or ``RENDER_SDK_SOCKET_PATH`` is missing, or the mode is unknown.
    """
    mode = os.environ.get(MODE_VARIABLE)
    socket_path = os.environ.get(SOCKET_VARIABLE)
    hint = "Render sets it when it starts the worker; to run tasks on this machine use `render-workflows dev`"
    if not mode:
        raise ValueError(
            f"the {MODE_VARIABLE} environment variable is required ({' or '.join(MODES)}): {hint}"
        )
    if mode not in MODES:
        raise ValueError(f"unknown {MODE_VARIABLE} {mode!r}: expected one of {', '.join(MODES)}")
    if not socket_path:
        raise ValueError(f"the {SOCKET_VARIABLE} environment variable is required: {hint}")
    client = CallbackClient(CallbackTransport(socket_path))
    if mode == "register":
        return asyncio.run(_register(client, tasks))
    return asyncio.run(_run(client, tasks))


async def _register(client: CallbackClient, tasks: Mapping[str, Task[Any, Any]]) -> int:
    if not tasks:
        print("render_sdk: registering no tasks: no function is decorated with @app.task", file=sys.stderr)
    try:
        await client.register_tasks(Tasks(tasks=[task.to_wire() for task in tasks.values()]))
    except RenderError as exc:
        print(f"render_sdk: could not register the tasks: {exc}", file=sys.stderr)
        return 1
    return 0


async def _run(client: CallbackClient, tasks: Mapping[str, Task[Any, Any]]) -> int:
    try:
        task_input = await client.get_input()
    except RenderError as exc:
        print(f"render_sdk: could not get the task input: {exc}", file=sys.stderr)
        return 1
    try:
        result = await _run_task(client, tasks, task_input.task_name, task_input.input)
    except Exception as exc:
        details, stack_trace = describe_error(exc)
        print(f"render_sdk: task {task_input.task_name!r} failed\n{stack_trace}", end="", file=sys.stderr)
        await _post(client, CallbackRequest(error=TaskError(details=details, stack_trace=stack_trace)))
        return 1
    delivered = await _post(client, CallbackRequest(complete=TaskComplete(output=encode_payload([result]))))
    return 0 if delivered else 1


async def _run_task(
    client: CallbackClient, tasks: Mapping[str, Task[Any, Any]], name: str, payload: str
) -> Any:
    task = tasks.get(name)
    if task is None:
        raise LookupError(
            f"task {name!r} is not defined by this worker; it defines: {', '.join(tasks) or 'nothing'}"
        )
    input_value = decode_payload(payload, f"task {name!r} input")
    runner = SocketSubtaskRunner(client)
    try:
        return await run_task_body(task, input_value, runner)
    finally:
        await runner.settle()


async def _post(client: CallbackClient, callback: CallbackRequest) -> bool:
    try:
        await client.post_callback(callback)
    except RenderError as exc:
        print(f"render_sdk: could not report the outcome: {exc}", file=sys.stderr)
        return False
    return True
