"""Ask the worker which tasks it defines: run it once with ``RENDER_SDK_MODE=register``."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from render_sdk_callback_api.models import TaskDefinition, TaskOptions, Tasks

from render_sdk._protocol.retry import WIRE_DEFAULT_FACTOR, WIRE_DEFAULT_MAX_RETRIES, WIRE_DEFAULT_WAIT_MS
from render_sdk._protocol.strict_json import loads
from render_sdk._protocol.wire import WireError, from_wire
from render_sdk.local.attempts.processes import WorkerProcess
from render_sdk.local.attempts.socket_server import HttpError, Reply, SocketServer
from render_sdk.local.attempts.worker_command import WorkerCommand
from render_sdk.local.engine.records import DEFAULT_TIMEOUT_SECONDS, RetryPolicy, TaskParameter, TaskSpec

__all__ = ["RegistrationError", "register_tasks"]

REGISTRATION_TIMEOUT = 60.0
_STDERR_LINES = 40
_counter = itertools.count()


class RegistrationError(Exception):
    """The worker did not register its tasks; the message includes the end of its stderr."""


@dataclass(frozen=True)
class _Registered:
    tasks: list[TaskSpec]


async def register_tasks(
    command: WorkerCommand, socket_dir: Path, timeout: float = REGISTRATION_TIMEOUT
) -> list[TaskSpec]:
    """Start the worker in register mode and return the tasks it posts to ``/register-tasks``.

    Raises:
        RegistrationError: The command could not start, exited without registering, sent an invalid task list,
            or took longer than ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    registered: asyncio.Future[_Registered] = loop.create_future()

    async def handle(method: str, path: str, body: bytes) -> Reply:
        if (method, path) != ("POST", "/register-tasks"):
            raise HttpError(404, f"{method} {path} is not served in register mode")
        try:
            tasks = from_wire(Tasks, loads(body or b"null"), "body").tasks
            _check_tasks(tasks)
        except (ValueError, WireError) as exc:
            if not registered.done():
                registered.set_exception(
                    RegistrationError(f"the worker registered an invalid task list: {exc}")
                )
            raise HttpError(400, str(exc)) from exc
        if not registered.done():
            registered.set_result(_Registered([_spec(task) for task in tasks]))
        return Reply(200)

    stderr: list[str] = []

    def keep_stderr(stream: str, line: str) -> None:
        if stream == "stderr":
            stderr.append(line)
            del stderr[:-_STDERR_LINES]

    socket_path = socket_dir / f"register-{next(_counter)}.sock"
    server = SocketServer(socket_path, handle)
    await server.start()
    process: WorkerProcess | None = None
    try:
        try:
            process = await WorkerProcess.start(
                command.argv, command.environment("register", socket_path), command.cwd, keep_stderr
            )
        except OSError as exc:
            raise RegistrationError(
                f"could not start the worker command `{command.describe()}`: {exc}"
            ) from exc
        exited = asyncio.ensure_future(process.wait_exit())
        waiters: set[asyncio.Future[Any]] = {registered, exited}
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if registered.done():
            return registered.result().tasks
        if exited in done:
            await process.stop()  # read its stderr to the end before quoting it
            raise RegistrationError(
                f"the worker command `{command.describe()}` exited with status {exited.result()} "
                "before registering its tasks" + _tail(stderr)
            )
        raise RegistrationError(
            f"the worker command `{command.describe()}` did not register its tasks within {timeout:g} s"
            + _tail(stderr)
        )
    finally:
        if process is not None:
            await process.stop()
        await server.close()


def _check_tasks(tasks: list[TaskDefinition]) -> None:
    seen: set[str] = set()
    for index, task in enumerate(tasks):
        if not task.name:
            raise ValueError(f"tasks[{index}].name is empty")
        if task.name in seen:
            raise ValueError(f"task {task.name!r} is registered twice")
        seen.add(task.name)


def _spec(task: TaskDefinition) -> TaskSpec:
    """The engine's typed definition of a task as the worker registered it.

    The callback spec makes ``options`` and every retry field optional; absent ones take Render's defaults
    (no retries, a first wait of 0 ms, factor 2) and the SDK's documented default timeout.
    """
    options = task.options or TaskOptions()
    retry = options.retry
    return TaskSpec(
        name=task.name,
        parameters=tuple(
            TaskParameter(p.name, p.has_default, p.type, p.default_value) for p in task.parameters or ()
        ),
        retry=RetryPolicy()
        if retry is None
        else RetryPolicy(
            max_retries=WIRE_DEFAULT_MAX_RETRIES if retry.max_retries is None else retry.max_retries,
            wait_duration_ms=WIRE_DEFAULT_WAIT_MS
            if retry.wait_duration_ms is None
            else retry.wait_duration_ms,
            factor=retry.factor or WIRE_DEFAULT_FACTOR,  # Render treats 0 as unset, too
        ),
        timeout_seconds=DEFAULT_TIMEOUT_SECONDS
        if options.timeout_seconds is None
        else options.timeout_seconds,
        plan=options.plan,
    )


def _tail(stderr: list[str]) -> str:
    if not stderr:
        return " (it wrote nothing to stderr)"
    return "; its stderr ends with:\n" + "\n".join(f"    {line}" for line in stderr)
