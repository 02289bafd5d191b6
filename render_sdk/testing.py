"""Run tasks in-process for unit tests: no socket, no server, no Render.

Subtasks run inline in the same event loop (in parallel when gathered), failed attempts are retried as the
task's :class:`~render_sdk.Retry` says (the waits are recorded, not slept), and every run is recorded. Inputs
and results go through the same strict JSON checks as on Render, and results come back as Render would return
them (a tuple becomes a list), so a test catches what would fail in production::

    from render_sdk.testing import TaskRunner

    def test_fan_out():
        runner = TaskRunner()
        assert runner.run(fan_out, 3) == [0, 1, 4]
        assert [run.task_name for run in runner.runs] == ["fan_out", "square", "square", "square"]

A task that takes a :class:`~render_sdk.TaskContext` gets one whose ``metadata`` names the recorded run
(``run-1``...) and whose ``run`` starts a recorded subtask. To call such a body directly, pass an
:class:`InlineContext` (or any object with ``metadata`` and ``run``)::

    async def test_add_squares_body():
        assert await add_squares.func(InlineContext(), 3, 4) == 25

Timeouts and resource plans are not applied.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Literal, ParamSpec, TypeVar

from render_sdk._protocol.strict_json import dumps
from render_sdk.client.errors import TaskRunError
from render_sdk.workflows import Task, TaskInstance, TaskRunMetadata
from render_sdk.workflows._execute import describe_error, run_task_body

__all__ = ["InlineContext", "RecordedRun", "TaskRunner", "run_task"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class RecordedRun:
    """One task run seen by a :class:`TaskRunner` (the task you ran, or one of its subtasks).

    Attributes:
        id: ``run-1``, ``run-2``... in the order the runs started.
        task_name: The task's registered name.
        input: The input as Render would store it: a JSON array (positional) or object (keyword).
        parent: The run that called this one as a subtask, or None for the run you started.
        status: ``running``, ``completed`` or ``failed``.
        result: The return value after a JSON round trip (when completed).
        errors: ``"ExceptionType: message"`` of every failed attempt, in order.
        exception: The exception of the last failed attempt, if any.
        attempts: How many attempts ran (1 + retries).
        retry_waits_ms: How long Render would have waited before each retry, in milliseconds.
    """

    id: str
    task_name: str
    input: list[Any] | dict[str, Any]
    parent: RecordedRun | None = None
    status: Literal["running", "completed", "failed"] = "running"
    result: Any = None
    errors: list[str] = field(default_factory=list)
    exception: BaseException | None = None
    attempts: int = 0
    retry_waits_ms: list[float] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        """The error of a failed run (its last attempt's), else None."""
        return self.errors[-1] if self.status == "failed" else None

    @property
    def root(self) -> RecordedRun:
        """The run at the root of this run's tree (itself for the run you started)."""
        return self if self.parent is None else self.parent.root

    @property
    def metadata(self) -> TaskRunMetadata:
        """What the run's current attempt sees as ``ctx.metadata`` (``attempt`` counts from 0)."""
        return TaskRunMetadata(
            task_run_id=self.id,
            root_task_run_id=self.root.id,
            parent_task_run_id=None if self.parent is None else self.parent.id,
            task_name=self.task_name,
            attempt=max(self.attempts - 1, 0),
        )


class TaskRunner:
    """Runs tasks in-process and records every run in :attr:`runs`.

    One runner can run several tasks; :attr:`runs` accumulates across them.
    """

    def __init__(self) -> None:
        self.runs: list[RecordedRun] = []
        self._ids = itertools.count(1)
        self._pending: set[asyncio.Future[Any]] = set()

    def run(self, task: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``task`` with ``args`` or ``kwargs`` to completion, subtasks included, and return its result.

        Raises:
            TaskRunError: The task failed on its last attempt (``error`` holds ``"Type: message"``).
            TypeError: ``task`` is not a task, or the arguments do not fit it or are not JSON.
            ValueError: Both positional and keyword arguments were given.
            RuntimeError: Called from a running event loop; use :meth:`run_async` there.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.run_async(task, *args, **kwargs))
        raise RuntimeError("TaskRunner.run() cannot be called from a running event loop; await run_async()")

    async def run_async(self, task: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Like :meth:`run`, for async tests."""
        if not isinstance(task, Task):
            raise TypeError(f"TaskRunner runs tasks defined with @app.task, got {task!r}")
        input_value = task.make_input(args, kwargs)
        try:
            result: R = await self._execute(task, input_value, None)
        finally:
            # Subtasks nobody awaited still run to the end, as they would on Render.
            while self._pending:
                await asyncio.gather(*self._pending, return_exceptions=True)
        return result

    def runs_of(self, task: Task[..., Any] | str) -> list[RecordedRun]:
        """The recorded runs of ``task`` (a task or a task name), in start order."""
        name = task if isinstance(task, str) else task.name
        return [run for run in self.runs if run.task_name == name]

    async def _execute(
        self, task: Task[..., Any], input_value: list[Any] | dict[str, Any], parent: RecordedRun | None
    ) -> Any:
        input_value = json.loads(dumps(input_value))
        record = RecordedRun(
            id=f"run-{next(self._ids)}", task_name=task.name, input=input_value, parent=parent
        )
        self.runs.append(record)
        retry = task.options.retry
        subtasks = _InlineSubtasks(self, record)
        while True:
            record.attempts += 1
            try:
                result = await run_task_body(task, json.loads(dumps(input_value)), subtasks, record.metadata)
            except Exception as exc:
                details, _ = describe_error(exc)
                record.errors.append(details)
                record.exception = exc
                retries_done = record.attempts - 1
                if retry is not None and retries_done < retry.max_retries:
                    record.retry_waits_ms.append(retry.delay_ms(retries_done))
                    continue
                record.status = "failed"
                label = "task" if parent is None else "subtask"
                raise TaskRunError(
                    f"{label} {task.name!r} ({record.id}) failed: {details}", error=details
                ) from exc
            record.result = json.loads(dumps([result]))[0]
            record.status = "completed"
            return record.result


class _InlineSubtasks:
    """Runs a task's subtasks as tasks on the same event loop."""

    def __init__(self, runner: TaskRunner, parent: RecordedRun) -> None:
        self.runner = runner
        self.parent = parent

    def start_subtask(
        self, task: Task[..., Any], input_value: list[Any] | dict[str, Any]
    ) -> TaskInstance[Any]:
        future = asyncio.ensure_future(self.runner._execute(task, input_value, self.parent))
        self.runner._pending.add(future)
        future.add_done_callback(self._forget)
        return TaskInstance(task.name, future)

    def _forget(self, future: asyncio.Future[Any]) -> None:
        self.runner._pending.discard(future)
        if not future.cancelled():
            future.exception()  # Retrieved: a failure nobody awaited is recorded, not logged as lost.


class InlineContext:
    """A :class:`~render_sdk.TaskContext` for calling a task body directly in a test.

    ``await ctx.run(task, ...)`` runs the subtask in-process with ``runner`` (recorded in its ``runs``, with
    retries), and ``metadata`` is what you give.

    Args:
        metadata: What ``ctx.metadata`` returns (default: every field None).
        runner: The runner that runs and records subtasks (default: a new one, as :attr:`runner`).
    """

    def __init__(self, metadata: TaskRunMetadata | None = None, runner: TaskRunner | None = None) -> None:
        self.runner = TaskRunner() if runner is None else runner
        self._metadata = TaskRunMetadata() if metadata is None else metadata

    @property
    def metadata(self) -> TaskRunMetadata:
        """The metadata given (a test double: no run exists)."""
        return self._metadata

    async def run(self, task: Task[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``task`` to completion with :attr:`runner` and return its result.

        Raises:
            TaskRunError: The task failed on its last attempt.
        """
        return await self.runner.run_async(task, *args, **kwargs)


def run_task(task: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run ``task`` in-process with a fresh :class:`TaskRunner` and return its result.

    Raises:
        TaskRunError: The task failed on its last attempt.
    """
    return TaskRunner().run(task, *args, **kwargs)
