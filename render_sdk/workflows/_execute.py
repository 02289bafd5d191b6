"""Running one task body: input to arguments, sync bodies on a thread, the result checked as strict JSON.

Shared by the Unix-socket worker and :mod:`render_sdk.testing`, so both behave the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import os
import threading
import traceback
from typing import Any

from render_sdk._protocol.strict_json import find_non_json
from render_sdk.workflows._task import (
    RunningTask,
    SubtaskRunner,
    Task,
    TaskRunMetadata,
    context_for,
    running_task,
)

__all__ = ["describe_error", "run_task_body", "split_input"]

_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))


def split_input(task: Task[Any, Any], input_value: Any) -> tuple[list[Any], dict[str, Any]]:
    """Positional arguments from a JSON array, keyword arguments from a JSON object, none from nothing."""
    if input_value is None:
        return [], {}
    if isinstance(input_value, list):
        return input_value, {}
    if isinstance(input_value, dict):
        return [], input_value
    raise TypeError(
        f"task {task.name!r} input must be a JSON array (positional arguments) or object (keyword "
        f"arguments), got {type(input_value).__name__}"
    )


async def run_task_body(
    task: Task[Any, Any], input_value: Any, runner: SubtaskRunner, metadata: TaskRunMetadata
) -> Any:
    """Run ``task`` as the run ``metadata`` names, its subtask calls going to ``runner``; return its result.

    A body that takes a :class:`~render_sdk.workflows._task.TaskContext` gets one before its arguments.

    Raises:
        TypeError: The input is neither an array nor an object, or the result is not strict JSON.
        Exception: Whatever the task body raised.
    """
    args, kwargs = split_input(task, input_value)
    running = RunningTask(task, runner, asyncio.get_running_loop(), metadata)
    if task.takes_context:
        args = [context_for(running), *args]
    token = running_task.set(running)
    try:
        if task.is_async:
            result = await task.func(*args, **kwargs)
        else:
            result = await _run_in_thread(task, contextvars.copy_context(), args, kwargs)
            if inspect.isawaitable(result):
                result = await result
    finally:
        running_task.reset(token)
    problem = find_non_json(result, "result")
    if problem is not None:
        raise TypeError(f"task {task.name!r} returned a value that is not JSON: {problem}")
    return result


async def _run_in_thread(
    task: Task[Any, Any], context: contextvars.Context, args: list[Any], kwargs: dict[str, Any]
) -> Any:
    # A plain thread, not asyncio.to_thread: under auto_start this runs in an exit hook, where executors
    # cannot be created ("can't register atexit after shutdown").
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(exception: BaseException | None, result: Any) -> None:
        if future.done():
            return
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)

    def target() -> None:
        exception: BaseException | None = None
        result = None
        try:
            result = context.run(task.func, *args, **kwargs)
        except Exception as exc:
            exception = exc
        except BaseException as exc:
            # SystemExit or KeyboardInterrupt raised into the event loop would stop it without a callback.
            exception = RuntimeError(f"task {task.name!r} raised {exc!r}")
            exception.__cause__ = exc
        with contextlib.suppress(RuntimeError):  # A closed loop: nobody waits for this result any more.
            loop.call_soon_threadsafe(settle, exception, result)

    threading.Thread(target=target, name=f"render-task-{task.name}", daemon=True).start()
    return await future


def describe_error(exc: BaseException) -> tuple[str, str]:
    """``("ExceptionType: message", formatted traceback)`` for an error callback, without SDK frames."""
    message = str(exc)
    details = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    summary = traceback.TracebackException.from_exception(exc)
    user_frames = [frame for frame in summary.stack if not frame.filename.startswith(_PACKAGE_DIR)]
    if user_frames:
        summary.stack = traceback.StackSummary.from_list(user_frames)
    return details, "".join(summary.format())
