"""The ``Workflows`` app: task registration and the defaults tasks share.

Serving the tasks (once per process, with the apps of a module imported twice counted once) is
:mod:`render_sdk.workflows._serving`'s.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, overload

from render_sdk.workflows._options import (
    DEFAULT_RETRY,
    Options,
    Retry,
    check_plan,
    check_retry,
    check_timeout,
)
from render_sdk.workflows._serving import PROCESS, merge_task_lists, merge_tasks
from render_sdk.workflows._task import Task, TaskContext, check_task_name

__all__ = ["Workflows"]

P = ParamSpec("P")
R = TypeVar("R")


class Workflows:
    """A set of tasks and the defaults they share.

    Args:
        default_retry: Retry policy of tasks that do not set ``retry``; None for no retries.
        default_timeout: Timeout in seconds (30 to 86400) of tasks that do not set ``timeout``.
        default_plan: Resource plan (``"starter"``, ``"standard"`` or ``"pro"``) of tasks that do not set
            ``plan``.
        auto_start: Serve the tasks when the program exits, if ``RENDER_SDK_MODE`` and
            ``RENDER_SDK_SOCKET_PATH`` are set (as they are when Render starts the worker).

    Example::

        app = Workflows(auto_start=True)

        @app.task
        def square(a: int) -> int:
            return a * a

        @app.task  # Render SDK 1.x's style: the body takes a TaskContext first.
        async def add_squares(ctx: TaskContext, a: int, b: int) -> int:
            return await ctx.run(square, a) + await ctx.run(square, b)
    """

    def __init__(
        self,
        default_retry: Retry | None = DEFAULT_RETRY,
        default_timeout: int = 300,
        default_plan: str = "standard",
        auto_start: bool = False,
    ) -> None:
        self.default_retry = check_retry(default_retry, "Workflows(default_retry=...)")
        self.default_timeout = check_timeout(default_timeout, "Workflows(default_timeout=...)")
        self.default_plan = check_plan(default_plan, "Workflows(default_plan=...)")
        if not isinstance(auto_start, bool):
            raise TypeError(f"Workflows(auto_start=...) must be a bool, got {auto_start!r}")
        self.auto_start = auto_start
        self._tasks: dict[str, Task[Any, Any]] = {}
        self._sources: tuple[Workflows, ...] = ()
        self._site = _caller_site()
        PROCESS.add_app(self)

    @classmethod
    def from_workflows(
        cls,
        *apps: Workflows,
        default_retry: Retry | None = DEFAULT_RETRY,
        default_timeout: int = 300,
        default_plan: str = "standard",
        auto_start: bool = False,
    ) -> Workflows:
        """Combine apps defined in several modules into one app that serves all their tasks.

        Each task keeps the options it was defined with. Tasks added to ``apps`` later are included too.
        Tasks defined on the combined app itself use its own defaults.

        Raises:
            ValueError: Two different tasks have the same name.
        """
        for app in apps:
            if not isinstance(app, Workflows):
                raise TypeError(f"Workflows.from_workflows() takes Workflows apps, got {app!r}")
        combined = cls(
            default_retry=default_retry,
            default_timeout=default_timeout,
            default_plan=default_plan,
            auto_start=auto_start,
        )
        combined._sources = apps
        combined.tasks  # noqa: B018 - fail now, not at serve time, on clashing names
        return combined

    # A body taking a TaskContext first also matches the plain overloads, so those with the context come
    # first; an async body also matches the sync ones (R being the coroutine), so async comes first.
    @overload
    def task(self, func: Callable[Concatenate[TaskContext, P], Coroutine[Any, Any, R]], /) -> Task[P, R]: ...

    @overload
    def task(self, func: Callable[Concatenate[TaskContext, P], R], /) -> Task[P, R]: ...

    @overload
    def task(self, func: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...

    @overload
    def task(self, func: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        *,
        name: str | None = None,
        retry: Retry | None = None,
        timeout: int | None = None,
        timeout_seconds: int | None = None,
        plan: str | None = None,
    ) -> _TaskDecorator: ...

    def task(
        self,
        func: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        retry: Retry | None = None,
        timeout: int | None = None,
        timeout_seconds: int | None = None,
        plan: str | None = None,
    ) -> Task[Any, Any] | _TaskDecorator:
        """Register a function as a task, bare (``@app.task``) or with overrides (``@app.task(name=...)``).

        Args:
            func: The task body, sync or async. Its arguments and return value must be JSON-serializable.
                A first parameter annotated :class:`TaskContext` receives the run's context and is not part
                of the task's input.
            name: The task name (defaults to the function name); it becomes part of the task slug.
            retry: Retry policy, instead of the app's ``default_retry``.
            timeout: Timeout in seconds (30 to 86400), instead of the app's ``default_timeout``.
            timeout_seconds: Render SDK 1.x's name for ``timeout``; give one of the two.
            plan: Resource plan, instead of the app's ``default_plan``.

        Raises:
            ValueError: A bad name or option, or a name already used by another task of this app.
            TypeError: Both ``timeout`` and ``timeout_seconds``, or a body that is not a plain function.
        """
        if timeout is not None and timeout_seconds is not None:
            raise TypeError(
                "@app.task() takes timeout or timeout_seconds (its Render SDK 1.x name), not both: "
                f"got timeout={timeout!r} and timeout_seconds={timeout_seconds!r}"
            )
        if timeout is None:
            timeout = timeout_seconds

        def register(body: Callable[..., Any]) -> Task[Any, Any]:
            if isinstance(body, Task):
                raise TypeError(f"{body!r} is already a task; decorate the plain function once")
            if not callable(body):
                raise TypeError(f"@app.task needs a function, got {body!r}")
            task_name = name if name is not None else getattr(body, "__name__", None)
            where = f"task {task_name!r}"
            options = Options(
                retry=self.default_retry if retry is None else check_retry(retry, where),
                timeout=self.default_timeout if timeout is None else check_timeout(timeout, where),
                plan=self.default_plan if plan is None else check_plan(plan, where),
            )
            task: Task[Any, Any] = Task(body, check_task_name(task_name, repr(body)), options)
            existing = self._tasks.get(task.name)
            if existing is not None:
                raise ValueError(
                    f"duplicate task name {task.name!r}: {existing.origin} and {task.origin} are both "
                    "registered under it; give one of them another name with @app.task(name=...)"
                )
            self._tasks[task.name] = task
            return task

        if func is not None:
            return register(func)
        return register

    @property
    def tasks(self) -> Mapping[str, Task[Any, Any]]:
        """This app's tasks by name, including those of the apps it was combined from."""
        return merge_task_lists(self._own_tasks())

    def start(self) -> None:
        """Serve this app's tasks as Render asked through ``RENDER_SDK_MODE``: register them, or run one task.

        Returns after a successful registration or run. On failure the error is on stderr and this raises
        ``SystemExit`` with a non-zero status.

        Raises:
            RuntimeError: This process has already served its tasks.
            ValueError: ``RENDER_SDK_MODE`` or ``RENDER_SDK_SOCKET_PATH`` is missing or invalid.
        """
        group = [app for app in PROCESS.live_apps() if app is self or app._site == self._site]
        status = PROCESS.serve_once(merge_tasks(group))
        if status != 0:
            raise SystemExit(status)

    def _own_tasks(self) -> Iterator[Task[Any, Any]]:
        yield from self._tasks.values()
        for source in self._sources:
            yield from source._own_tasks()

    def __repr__(self) -> str:
        return f"<Workflows tasks={list(self.tasks)}>"


class _TaskDecorator(Protocol):
    """What ``@app.task(...)`` with options returns (its overloads are :meth:`Workflows.task`'s)."""

    @overload
    def __call__(
        self, func: Callable[Concatenate[TaskContext, P], Coroutine[Any, Any, R]], /
    ) -> Task[P, R]: ...

    @overload
    def __call__(self, func: Callable[Concatenate[TaskContext, P], R], /) -> Task[P, R]: ...

    @overload
    def __call__(self, func: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...

    @overload
    def __call__(self, func: Callable[P, R], /) -> Task[P, R]: ...


def _caller_site() -> tuple[str, int]:
    """The file and line that called into this module (the app's constructor call)."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    return (os.path.realpath(frame.f_code.co_filename), frame.f_lineno)
