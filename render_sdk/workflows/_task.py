"""A task: a validated function with its options, and the two ways a running task starts a subtask.

A task body starts subtasks in either of two styles, mixed freely in one app:

* the seed's: calling a task inside a running task starts it as a subtask (submitted at once, so several calls
  run in parallel) and returns a :class:`TaskInstance` to await;
* Render SDK 1.x's: a body whose first parameter is annotated :class:`TaskContext` receives one, and
  ``await ctx.run(task, *args)`` starts a subtask and returns its result.

Calling a task never runs its body in the caller. Which runtime submits the subtask (the Unix-socket worker,
or :mod:`render_sdk.testing`) and the run's identity (:class:`TaskRunMetadata`) travel in a context variable
set per running task; :func:`current_run` reads the identity in either style.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator
from contextvars import ContextVar
from functools import cached_property
from types import CodeType, FunctionType
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar

from render_sdk._protocol.strict_json import find_non_json
from render_sdk.workflows._metadata import TaskRunMetadata
from render_sdk.workflows._options import Options

if TYPE_CHECKING:
    import asyncio
    import inspect

__all__ = [
    "RunningTask",
    "SubtaskRunner",
    "Task",
    "TaskContext",
    "TaskInstance",
    "check_task_name",
    "context_for",
    "current_run",
    "running_task",
]

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

# What a task slug ({workflow-slug}/{task-name}[:version]) can carry in its task-name part.
_TASK_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\Z")


def check_task_name(name: Any, origin: str) -> str:
    """Return ``name`` if it can be the task-name part of a task slug, else raise naming ``origin``."""
    if not isinstance(name, str) or not _TASK_NAME.match(name):
        raise ValueError(
            f"invalid task name {name!r} for {origin}: a task name becomes part of the task slug "
            "'{workflow-slug}/{task-name}', so it may contain only ASCII letters, digits, '_' and '-', "
            "and must not start with '-'"
        )
    return name


class TaskInstance(Generic[R_co]):
    """A subtask that has been submitted; ``await`` it for the subtask's return value.

    Awaiting raises :class:`render_sdk.client.errors.TaskRunError` when the subtask fails. Await it as many
    times as you like; the subtask runs once.
    """

    __slots__ = ("_future", "task_name")

    def __init__(self, task_name: str, future: asyncio.Future[Any]) -> None:
        self.task_name = task_name
        self._future = future

    def __await__(self) -> Generator[Any, None, R_co]:
        result: R_co = yield from self._future.__await__()
        return result

    def done(self) -> bool:
        """Whether the subtask has finished (successfully or not)."""
        return self._future.done()

    def __repr__(self) -> str:
        state = "done" if self._future.done() else "running"
        return f"<TaskInstance {self.task_name!r} {state}>"


class SubtaskRunner(Protocol):
    """Starts subtasks for the task running in the current context."""

    def start_subtask(
        self, task: Task[Any, Any], input_value: list[Any] | dict[str, Any]
    ) -> TaskInstance[Any]:
        """Submit ``task`` with ``input_value`` (positional list or keyword object) and return at once."""


class TaskContext(Protocol):
    """What a task whose first parameter is annotated ``TaskContext`` receives (Render SDK 1.x's style).

    A protocol: the worker passes its own, :class:`render_sdk.testing.InlineContext` runs subtasks in-process,
    and a test can pass any object with these two members.

    Example::

        @app.task
        async def add_squares(ctx: TaskContext, a: int, b: int) -> int:
            return await ctx.run(square, a) + await ctx.run(square, b)
    """

    @property
    def metadata(self) -> TaskRunMetadata:
        """This run's identity, known without a request."""
        ...

    async def run(self, task: Task[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``task`` as a subtask with these arguments (all positional or all keyword); return its result.

        Raises:
            TaskRunError: The subtask failed.
        """
        ...


class RunningTask:
    """The task whose body is running in this context, who it is, and where its subtask calls go.

    ``runner`` and ``loop`` are None for a synchronous body that a worker runs with no event loop at all: like
    every synchronous body, it cannot start subtasks.
    """

    # A plain class, not a NamedTuple: typing.NamedTuple compiles every string annotation (this module's
    # `from __future__ import annotations`) when the class is created, at `import render_sdk`.
    __slots__ = ("loop", "metadata", "runner", "task")

    def __init__(
        self,
        task: Task[Any, Any],
        runner: SubtaskRunner | None,
        loop: asyncio.AbstractEventLoop | None,
        metadata: TaskRunMetadata,
    ) -> None:
        self.task = task
        self.runner = runner
        self.loop = loop
        self.metadata = metadata


running_task: ContextVar[RunningTask | None] = ContextVar("render_sdk_running_task", default=None)


def current_run() -> TaskRunMetadata:
    """The identity of the task run whose body is running (``ctx.metadata`` without a context parameter).

    Raises:
        RuntimeError: No task is running in this context.
    """
    running = running_task.get()
    if running is None:
        raise RuntimeError("current_run() was called outside a running task")
    return running.metadata


class _Context:
    """The :class:`TaskContext` a running task receives: subtasks go where the running task's go."""

    __slots__ = ("_running",)

    def __init__(self, running: RunningTask) -> None:
        self._running = running

    @property
    def metadata(self) -> TaskRunMetadata:
        return self._running.metadata

    async def run(self, task: Task[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        if not isinstance(task, Task):
            raise TypeError(f"ctx.run() takes a task defined with @app.task, got {task!r}")
        instance: TaskInstance[R] = task.start_in(self._running, args, kwargs)
        return await instance

    def __repr__(self) -> str:
        return f"<TaskContext {self._running.metadata!r}>"


def context_for(running: RunningTask) -> TaskContext:
    """The context handed to a body that takes one."""
    return _Context(running)


class Task(Generic[P, R]):
    """A function registered with :meth:`Workflows.task`.

    Inside a running task, calling it starts a subtask and returns a :class:`TaskInstance`. ``func`` is the
    plain function, for calling the body directly.
    """

    def __init__(self, func: Callable[..., Any], name: str, options: Options) -> None:
        origin = _origin(func)
        self.name = check_task_name(name, origin)
        self.func = func
        self.options = options
        self.origin = origin
        if not isinstance(func, FunctionType):
            self.signature  # noqa: B018 - a plain function always has one; fail now if anything else has none
        self.__name__ = getattr(func, "__name__", name)
        self.__qualname__ = getattr(func, "__qualname__", name)
        self.__doc__ = func.__doc__
        self.__module__ = getattr(func, "__module__", None) or __name__
        self.__wrapped__ = func

    @cached_property
    def signature(self) -> inspect.Signature:
        """The body's signature, worked out when first needed (registering, or calling the task).

        Raises:
            TypeError: The body has no signature that ``inspect`` can work out.
        """
        # Imported when needed: inspect (with ast, dis, tokenize) costs more than all of `import render_sdk`.
        import inspect

        try:
            return inspect.signature(self.func)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"task {self.name!r} ({self.origin}) has no inspectable signature: {exc}"
            ) from None

    @cached_property
    def takes_context(self) -> bool:
        """Whether the body's first parameter is annotated :class:`TaskContext` (it then receives one).

        A string annotation (``from __future__ import annotations``) counts when it evaluates to
        ``TaskContext`` in the function's module, or cannot be evaluated there and ends in ``TaskContext``
        (a name imported only for type checking).

        Raises:
            TypeError: The context parameter cannot be passed positionally.
        """
        code = _plain_code(self.func)
        if code is not None and (code.co_argcount or not _has_other_parameters(code)):
            # The first parameter is positional, or there is none: read it as inspect.signature would.
            annotation = self.func.__annotations__.get(code.co_varnames[0]) if code.co_argcount else None
            return annotation is not None and _is_context_annotation(annotation, self.func)
        import inspect

        first = next(iter(self.signature.parameters.values()), None)
        if first is None or not _is_context_annotation(first.annotation, self.func):
            return False
        if first.kind not in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            raise TypeError(
                f"task {self.name!r} ({self.origin}): the TaskContext parameter {first.name!r} must be the "
                "first positional parameter"
            )
        return True

    @cached_property
    def input_signature(self) -> inspect.Signature:
        """The parameters a caller passes: the body's, without the context parameter."""
        parameters = list(self.signature.parameters.values())
        return self.signature.replace(parameters=parameters[1:] if self.takes_context else parameters)

    @property
    def is_async(self) -> bool:
        """Whether the body is a coroutine function (``inspect.iscoroutinefunction``)."""
        func = self.func
        if type(func) is FunctionType and not hasattr(func, "_is_coroutine_marker"):
            return bool(func.__code__.co_flags & _CO_COROUTINE)  # what inspect reads, without importing it
        import inspect

        return inspect.iscoroutinefunction(func)

    @property
    def definition_site(self) -> tuple[str, int, str]:
        """Where the function was written: the same for both copies of a module imported twice."""
        code = getattr(self.func, "__code__", None)
        if code is None:
            return (self.origin, 0, self.name)
        return (os.path.realpath(code.co_filename), code.co_firstlineno, self.name)

    def make_input(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any] | dict[str, Any]:
        """The run input for a call with ``args`` or ``kwargs``: a JSON array or object, checked.

        Raises:
            ValueError: Both positional and keyword arguments were given.
            TypeError: The arguments do not fit the signature, or one of them is not strict JSON.
        """
        if args and kwargs:
            raise ValueError(
                f"task {self.name!r} was called with both positional and keyword arguments; a subtask's "
                "input is either a JSON array or a JSON object, so pass all arguments one way"
            )
        try:
            self.input_signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"task {self.name!r} cannot be called with these arguments: {exc}") from None
        input_value: list[Any] | dict[str, Any] = dict(kwargs) if kwargs else list(args)
        problem = find_non_json(input_value, "kwargs" if kwargs else "args")
        if problem is not None:
            raise TypeError(f"task {self.name!r} was called with an argument that is not JSON: {problem}")
        return input_value

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> TaskInstance[R]:
        running = running_task.get()
        if running is None:
            raise RuntimeError(
                f"task {self.name!r} was called outside a running task. Calling a task starts it as a "
                f"subtask, which only works inside another task: `await {self.__name__}(...)` in an async "
                "task. To start it from other code use "
                f'`Render().workflows.run_task("<workflow-slug>/{self.name}", [...])`; to test it in-process '
                f"use `render_sdk.testing.run_task({self.__name__}, ...)`; to call the plain function use "
                f"`{self.__name__}.func(...)`."
            )
        return self.start_in(running, args, kwargs)

    def start_in(
        self, running: RunningTask, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> TaskInstance[R]:
        """Start this task as a subtask of ``running`` (either style of call ends here).

        Raises:
            RuntimeError: Called from the body of a synchronous task.
            ValueError, TypeError: As :meth:`make_input`.
        """
        input_value = self.make_input(args, kwargs)
        if running.runner is None or _running_loop() is not running.loop:
            raise RuntimeError(
                f"task {self.name!r} was called from the synchronous task {running.task.name!r}; only "
                "async tasks can call subtasks: define it with `async def` and `await` the call"
            )
        return running.runner.start_subtask(self, input_value)

    def __repr__(self) -> str:
        return f"<Task {self.name!r} ({self.origin})>"


# Code flags (inspect.CO_*), so that the common cases need no `import inspect` (see Task.signature).
_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08
_CO_COROUTINE = 0x80


def _plain_code(func: Callable[..., Any]) -> CodeType | None:
    """The code of a function whose signature ``inspect.signature`` reads from its code object and
    ``__annotations__`` alone (not wrapped, no ``__signature__``, not a partialmethod); else None."""
    if type(func) is not FunctionType:
        return None
    if any(hasattr(func, name) for name in ("__wrapped__", "__signature__", "_partialmethod")):
        return None
    return func.__code__


def _has_other_parameters(code: CodeType) -> bool:
    """Whether ``code`` takes ``*args``, keyword-only parameters or ``**kwargs``."""
    return bool(code.co_kwonlyargcount or code.co_flags & (_CO_VARARGS | _CO_VARKEYWORDS))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _is_context_annotation(annotation: Any, func: Callable[..., Any]) -> bool:
    if isinstance(annotation, str):
        text: str = annotation
        try:  # What typing.get_type_hints does, for this one annotation.
            annotation = eval(text, getattr(func, "__globals__", {}))
        except Exception:
            return text.rsplit(".", 1)[-1] == "TaskContext"
    mro: tuple[type, ...] = getattr(annotation, "__mro__", ())
    return TaskContext in mro


def _origin(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", None) or "<unknown module>"
    return f"{module}.{getattr(func, '__qualname__', repr(func))}"
