"""The values the client hands to users, and their conversion from the API's JSON.

These are small frozen classes written by hand: generated models (with ``Unset``, ``additional_properties``
and closed enums) never reach users. Parsing reads the raw JSON rather than the generated models because the
generated enum rejects statuses the API may add later; here an unknown status stays a plain string.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, SupportsIndex, TypeVar, overload

from dateutil.parser import isoparse

__all__ = [
    "ListTaskRunsParams",
    "ListTasksParams",
    "Page",
    "ResponseFormatError",
    "Task",
    "TaskAttempt",
    "TaskInput",
    "TaskRun",
    "TaskRunDetails",
    "TaskRunEvent",
    "TaskRunStatus",
    "is_success",
    "is_terminal",
]


#: A task's arguments: a list or tuple of positional ones, or a dict of named ones.
TaskInput = list[Any] | tuple[Any, ...] | dict[str, Any]


class TaskRunStatus(str, enum.Enum):
    """Known run statuses. Values compare equal to their strings; statuses not listed here stay plain str."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        # Shown inside TaskRunDetails reprs: the plain string reads better than <TaskRunStatus...>.
        return repr(self.value)

    @classmethod
    def parse(cls, value: str) -> TaskRunStatus | str:
        """The member for ``value``, or ``value`` itself when the API sent a status this SDK does not know."""
        try:
            return cls(value)
        except ValueError:
            return value


_SUCCESS = frozenset({"completed", "succeeded"})
_TERMINAL = _SUCCESS | {"failed", "canceled"}


def is_terminal(status: str) -> bool:
    """Whether a run with this status is over: ``completed``, ``succeeded``, ``failed`` or ``canceled``."""
    return str(status) in _TERMINAL


def is_success(status: str) -> bool:
    """Whether a run with this status finished successfully (``completed`` or ``succeeded``)."""
    return str(status) in _SUCCESS


@dataclass(frozen=True, kw_only=True)
class TaskAttempt:
    """One execution attempt of a task run; ``error`` and ``results`` are filled in run details only."""

    status: TaskRunStatus | str
    started_at: datetime | None = None
    completed_at: datetime | None = None
    enqueued_at: datetime | None = None
    attempt: int | None = None
    error: str | None = None
    results: list[Any] | None = None


@dataclass(frozen=True, kw_only=True)
class TaskRun:
    """A task run as returned when starting or listing runs.

    ``parent_task_run_id`` is None for a root run (the API may send an empty string for it).
    """

    id: str
    task_id: str
    status: TaskRunStatus | str
    parent_task_run_id: str | None = None
    root_task_run_id: str | None = None
    retries: int = 0
    attempts: list[TaskAttempt] = field(default_factory=list)
    started_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class TaskRunDetails(TaskRun):
    """A task run with its input, results and error (``input_`` has a trailing underscore)."""

    results: list[Any] | None = None
    input_: list[Any] | dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class Task:
    """A task defined by a workflow version."""

    id: str
    name: str
    created_at: datetime | None = None
    workflow_id: str | None = None
    workflow_version_id: str | None = None


@dataclass(frozen=True)
class TaskRunEvent:
    """One event of the task run event stream: its name (``task.completed``...), id and the run's details."""

    event: str
    id: str | None
    details: TaskRunDetails


Item = TypeVar("Item")


class Page(Sequence[Item], Generic[Item]):
    """One page of a list endpoint: a sequence of items plus ``next_cursor`` to fetch the next page.

    ``next_cursor`` is None when this page is the last one (empty, or shorter than the requested limit).
    """

    def __init__(self, items: list[Item], cursors: list[str | None], next_cursor: str | None) -> None:
        self._items = items
        self.cursors = cursors
        self.next_cursor = next_cursor

    @property
    def cursor(self) -> str | None:
        """Alias of ``next_cursor``."""
        return self.next_cursor

    @overload
    def __getitem__(self, index: SupportsIndex) -> Item: ...
    @overload
    def __getitem__(self, index: slice) -> list[Item]: ...
    def __getitem__(self, index: SupportsIndex | slice) -> Item | list[Item]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Page):
            return self._items == other._items and self.next_cursor == other.next_cursor
        if isinstance(other, list):
            return self._items == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Page({self._items!r}, next_cursor={self.next_cursor!r})"


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100):
        raise ValueError(f"limit must be an int from 1 to 100, got {limit!r}")


def _check_cursor(cursor: str | None) -> None:
    if cursor is not None and (not isinstance(cursor, str) or not cursor):
        raise ValueError(f"cursor must be a non-empty string or None, got {cursor!r}")


def _check_ids(name: str, values: Sequence[str] | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a list of strings, not a single {type(values).__name__}: {values!r}")
    checked = list(values)
    for index, value in enumerate(checked):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name}[{index}] must be a non-empty string, got {value!r}")
    return checked


@dataclass(frozen=True)
class ListTaskRunsParams:
    """Filters and paging for ``list_task_runs``; every filter is optional and filters combine with AND.

    Attributes:
        limit: Page size, 1 to 100 (the API's default is 20).
        cursor: Continue after this position (a page's ``next_cursor``).
        owners: Workspace (owner) ids, ``tea-...``.
        task_slugs: Tasks as ``workflow-slug/task-name``.
        root_task_run_ids: Only runs in the trees started by these runs.
        workflow_ids: Only runs of these workflows.
        workflow_version_ids: Only runs of these workflow versions.
    """

    limit: int | None = None
    cursor: str | None = None
    owners: Sequence[str] | None = None
    task_slugs: Sequence[str] | None = None
    root_task_run_ids: Sequence[str] | None = None
    workflow_ids: Sequence[str] | None = None
    workflow_version_ids: Sequence[str] | None = None

    def __post_init__(self) -> None:
        _check_limit(self.limit)
        _check_cursor(self.cursor)
        for name in ("owners", "task_slugs", "root_task_run_ids", "workflow_ids", "workflow_version_ids"):
            object.__setattr__(self, name, _check_ids(name, getattr(self, name)))


@dataclass(frozen=True)
class ListTasksParams:
    """Filters and paging for ``list_tasks``; see :class:`ListTaskRunsParams` for the meaning of each."""

    limit: int | None = None
    cursor: str | None = None
    owners: Sequence[str] | None = None
    task_slugs: Sequence[str] | None = None
    workflow_ids: Sequence[str] | None = None
    workflow_version_ids: Sequence[str] | None = None

    def __post_init__(self) -> None:
        _check_limit(self.limit)
        _check_cursor(self.cursor)
        for name in ("owners", "task_slugs", "workflow_ids", "workflow_version_ids"):
            object.__setattr__(self, name, _check_ids(name, getattr(self, name)))


# ---- Conversion from the API's JSON ---------------------------------------------------------------------


class ResponseFormatError(ValueError):
    """A successful response whose body does not have the documented shape."""


def _field(data: Any, key: str, kind: type | tuple[type, ...], where: str, *, required: bool = True) -> Any:
    if not isinstance(data, dict):
        raise ResponseFormatError(f"{where} must be a JSON object, got {type(data).__name__}")
    value = data.get(key)
    if value is None:
        if required:
            raise ResponseFormatError(f"{where}.{key} is missing")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ResponseFormatError(f"{where}.{key} has the wrong type: {value!r}")
    return value


def _time(data: Any, key: str, where: str) -> datetime | None:
    text = _field(data, key, str, where, required=False)
    if not text:
        return None
    try:
        parsed: datetime = isoparse(text)
        return parsed
    except ValueError as exc:
        raise ResponseFormatError(f"{where}.{key} is not an ISO 8601 date-time: {text!r}") from exc


def _status(data: Any, where: str) -> TaskRunStatus | str:
    return TaskRunStatus.parse(_field(data, "status", str, where))


def parse_attempt(data: Any, where: str) -> TaskAttempt:
    """A ``TaskAttempt`` or ``TaskAttemptDetails`` object."""
    return TaskAttempt(
        status=_status(data, where),
        started_at=_time(data, "startedAt", where),
        completed_at=_time(data, "completedAt", where),
        enqueued_at=_time(data, "enqueuedAt", where),
        attempt=_field(data, "attempt", int, where, required=False),
        error=_field(data, "error", str, where, required=False),
        results=_field(data, "results", list, where, required=False),
    )


def _run_fields(data: Any, where: str) -> dict[str, Any]:
    attempts = _field(data, "attempts", list, where, required=False) or []
    return {
        "id": _field(data, "id", str, where),
        "task_id": _field(data, "taskId", str, where),
        "status": _status(data, where),
        "parent_task_run_id": _field(data, "parentTaskRunId", str, where, required=False) or None,
        "root_task_run_id": _field(data, "rootTaskRunId", str, where, required=False) or None,
        "retries": _field(data, "retries", int, where, required=False) or 0,
        "attempts": [parse_attempt(item, f"{where}.attempts[{i}]") for i, item in enumerate(attempts)],
        "started_at": _time(data, "startedAt", where),
        "completed_at": _time(data, "completedAt", where),
    }


def parse_task_run(data: Any, where: str = "task run") -> TaskRun:
    """A ``TaskRun`` object."""
    return TaskRun(**_run_fields(data, where))


def parse_task_run_details(data: Any, where: str = "task run") -> TaskRunDetails:
    """A ``TaskRunDetails`` object (the body of GET /task-runs/{id} and of every stream event)."""
    return TaskRunDetails(
        **_run_fields(data, where),
        results=_field(data, "results", list, where, required=False),
        input_=_field(data, "input", (list, dict), where, required=False),
        error=_field(data, "error", str, where, required=False) or None,
    )


def parse_task(data: Any, where: str = "task") -> Task:
    """A ``Task`` object."""
    return Task(
        id=_field(data, "id", str, where),
        name=_field(data, "name", str, where),
        created_at=_time(data, "createdAt", where),
        workflow_id=_field(data, "workflowId", str, where, required=False),
        workflow_version_id=_field(data, "workflowVersionId", str, where, required=False),
    )


def parse_task_run_page(data: Any, limit: int | None) -> Page[TaskRun]:
    """``TaskRunWithCursor[]``, or the bare ``TaskRun[]`` that servers of the v0.3.0 era send."""
    if not isinstance(data, list):
        raise ResponseFormatError(f"the task run list must be a JSON array, got {type(data).__name__}")
    runs, cursors = [], []
    for index, item in enumerate(data):
        where = f"task runs[{index}]"
        if isinstance(item, dict) and "taskRun" in item:
            runs.append(parse_task_run(item["taskRun"], f"{where}.taskRun"))
            cursors.append(_field(item, "cursor", str, where, required=False))
        else:
            runs.append(parse_task_run(item, where))
            cursors.append(None)
    return Page(runs, cursors, _next_cursor(cursors, limit))


def parse_task_page(data: Any, limit: int | None) -> Page[Task]:
    """``TaskWithCursor[]``."""
    if not isinstance(data, list):
        raise ResponseFormatError(f"the task list must be a JSON array, got {type(data).__name__}")
    tasks, cursors = [], []
    for index, item in enumerate(data):
        where = f"tasks[{index}]"
        tasks.append(parse_task(_field(item, "task", dict, where), f"{where}.task"))
        cursors.append(_field(item, "cursor", str, where, required=False))
    return Page(tasks, cursors, _next_cursor(cursors, limit))


def _next_cursor(cursors: list[str | None], limit: int | None) -> str | None:
    # A page shorter than the limit is the last one. Without a known limit, a non-empty page may have more
    # after it: one extra (empty) request is better than silently stopping early.
    if not cursors or (limit is not None and len(cursors) < limit):
        return None
    return cursors[-1]
