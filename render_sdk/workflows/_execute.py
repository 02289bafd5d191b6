"""Running one task body: input to arguments, the body called where it must run, the result checked as JSON.

Shared by the Unix-socket worker and :mod:`render_sdk.testing`, so both behave the same. An async body runs on
the event loop. A sync body runs in a worker thread while an event loop runs the task
(:func:`run_task_body`), so the loop keeps serving everything else; a worker whose one task is synchronous
has nothing else to serve, and runs it in its main thread with no event loop at all (:func:`run_inline`).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Awaitable, Callable
from types import GeneratorType
from typing import TYPE_CHECKING, Any

from render_sdk._protocol.strict_json import find_non_json
from render_sdk.workflows._metadata import TaskRunMetadata
from render_sdk.workflows._task import RunningTask, SubtaskRunner, Task, context_for, running_task

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "await_returned",
    "check_result",
    "describe_error",
    "is_awaitable",
    "run_inline",
    "run_task_body",
    "split_input",
]

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


def run_inline(task: Task[Any, Any], input_value: Any, metadata: TaskRunMetadata) -> Any:
    """Run the synchronous ``task`` in this thread, with no event loop, as the run ``metadata`` names.

    Returns what the body returned: unchecked, as it may be an awaitable (a plain function that returns a
    coroutine), which :func:`await_returned` then awaits on an event loop.

    Raises:
        TypeError: The input is neither an array nor an object.
        Exception: Whatever the task body raised (``RuntimeError`` for a ``BaseException``).
    """
    args, kwargs = split_input(task, input_value)
    running = RunningTask(task, None, None, metadata)
    if task.takes_context:
        args = [context_for(running), *args]
    token = running_task.set(running)
    try:
        return _call(task, task.func, args, kwargs)
    finally:
        running_task.reset(token)


async def await_returned(
    task: Task[Any, Any], awaitable: Awaitable[Any], runner: SubtaskRunner, metadata: TaskRunMetadata
) -> Any:
    """Await what :func:`run_inline` returned, on the running loop, where the task can start subtasks."""
    token = running_task.set(RunningTask(task, runner, _current_loop(), metadata))
    try:
        return await awaitable
    finally:
        running_task.reset(token)


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
    loop = _current_loop()
    running = RunningTask(task, runner, loop, metadata)
    if task.takes_context:
        args = [context_for(running), *args]
    token = running_task.set(running)
    try:
        if task.is_async:
            result = await task.func(*args, **kwargs)
        else:
            result = await _run_in_thread(task, loop, contextvars.copy_context(), args, kwargs)
            if is_awaitable(result):
                result = await result
    finally:
        running_task.reset(token)
    return check_result(task, result)


def is_awaitable(value: Any) -> bool:
    """``inspect.isawaitable(value)``, importing inspect only for a generator (rarely a task's result)."""
    if isinstance(value, Awaitable):
        return True
    if isinstance(value, GeneratorType):
        import inspect

        return inspect.isawaitable(value)
    return False


def check_result(task: Task[Any, Any], result: Any) -> Any:
    """``result``, if it is strict JSON.

    Raises:
        TypeError: It is not.
    """
    problem = find_non_json(result, "result")
    if problem is not None:
        raise TypeError(f"task {task.name!r} returned a value that is not JSON: {problem}")
    return result


def _call(task: Task[Any, Any], func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    try:
        return func(*args, **kwargs)
    except Exception:
        raise
    except BaseException as exc:
        # SystemExit or KeyboardInterrupt from a body would end the worker (or stop its event loop) without
        # reporting the run's outcome: it fails the run instead.
        raise RuntimeError(f"task {task.name!r} raised {exc!r}") from exc


def _current_loop() -> asyncio.AbstractEventLoop:
    # Imported here, not at the top: asyncio is loaded by whoever runs the loop this is called on, and a
    # worker running a synchronous task needs neither it nor threading.
    import asyncio

    return asyncio.get_running_loop()


async def _run_in_thread(
    task: Task[Any, Any],
    loop: asyncio.AbstractEventLoop,
    context: contextvars.Context,
    args: list[Any],
    kwargs: dict[str, Any],
) -> Any:
    # A plain thread, not asyncio.to_thread: under auto_start this runs in an exit hook, where executors
    # cannot be created ("can't register atexit after shutdown").
    import threading

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
            result = context.run(_call, task, task.func, args, kwargs)
        except Exception as exc:
            exception = exc
        with contextlib.suppress(RuntimeError):  # A closed loop: nobody waits for this result any more.
            loop.call_soon_threadsafe(settle, exception, result)

    threading.Thread(target=target, name=f"render-task-{task.name}", daemon=True).start()
    return await future


def describe_error(exc: BaseException) -> tuple[str, str]:
    """``("ExceptionType: message", formatted traceback)`` for an error callback, without SDK frames."""
    import traceback  # Imported here: a run that succeeds never needs it.

    message = str(exc)
    details = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    summary = traceback.TracebackException.from_exception(exc)
    user_frames = [frame for frame in summary.stack if not frame.filename.startswith(_PACKAGE_DIR)]
    if user_frames:
        summary.stack = traceback.StackSummary.from_list(user_frames)
    return details, "".join(summary.format())
