"""What the engine keeps: the workflow, its versions, tasks (typed definitions), runs, attempts, logs.

Records are immutable snapshots read from :mod:`render_sdk.local.engine.store`; only the state machine
(:mod:`render_sdk.local.engine.states`) writes new ones. Timestamps are stored as fixed-width ISO 8601 text
(:func:`timestamp`), so they sort as strings.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from render_sdk._protocol.retry import WIRE_DEFAULT_FACTOR, WIRE_DEFAULT_MAX_RETRIES, WIRE_DEFAULT_WAIT_MS

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "TERMINAL_STATUSES",
    "AttemptRecord",
    "LogRecord",
    "RetryPolicy",
    "RunRecord",
    "TaskParameter",
    "TaskRecord",
    "TaskSpec",
    "VersionRecord",
    "WorkflowRecord",
    "from_timestamp",
    "timestamp",
]

TERMINAL_STATUSES: Final = frozenset({"completed", "failed", "canceled"})

DEFAULT_TIMEOUT_SECONDS: Final = 300
"""A task's timeout when its definition sets none: the SDK's documented ``Workflows(default_timeout=300)``."""


def timestamp(moment: datetime) -> str:
    """Fixed-width ISO 8601 text, so stored timestamps sort as strings."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def from_timestamp(text: str | None) -> datetime | None:
    """Parse a timestamp written by :func:`timestamp`."""
    return None if text is None else datetime.fromisoformat(text)


@dataclass(frozen=True)
class WorkflowRecord:
    """The one local workflow."""

    id: str
    slug: str
    run_command: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class VersionRecord:
    """One registration of the worker's tasks."""

    id: str
    workflow_id: str
    name: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class TaskParameter:
    """A parameter of a registered task, as the worker described it."""

    name: str
    has_default: bool
    type: str | None = None
    default_value: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failed attempt is retried and how long each retry waits (see ``_protocol.retry``)."""

    max_retries: int = WIRE_DEFAULT_MAX_RETRIES
    wait_duration_ms: int = WIRE_DEFAULT_WAIT_MS
    factor: float = WIRE_DEFAULT_FACTOR


@dataclass(frozen=True)
class TaskSpec:
    """A task's definition as the worker registered it: its parameters, retry policy and timeout.

    Stored as the callback API's ``TaskDefinition`` JSON (snake_case, :meth:`to_json`), so the database reads
    the same whichever way the definition arrived.
    """

    name: str
    parameters: tuple[TaskParameter, ...] = ()
    retry: RetryPolicy = RetryPolicy()
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    plan: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The definition as stored (the callback API's ``TaskDefinition`` shape; absent fields left out)."""
        options: dict[str, Any] = {
            "retry": {
                "max_retries": self.retry.max_retries,
                "wait_duration_ms": self.retry.wait_duration_ms,
                "factor": self.retry.factor,
            }
        }
        options["timeout_seconds"] = self.timeout_seconds
        if self.plan is not None:
            options["plan"] = self.plan
        parameters = [
            {
                key: value
                for key, value in (
                    ("name", p.name),
                    ("has_default", p.has_default),
                    ("type", p.type),
                    ("default_value", p.default_value),
                )
                if value is not None
            }
            for p in self.parameters
        ]
        return {"name": self.name, "options": options, "parameters": parameters}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskSpec:
        """Read a stored definition (from :meth:`to_json`, or from an older version: as the wire sent it)."""
        options = data.get("options") or {}
        retry = options.get("retry") or {}
        return cls(
            name=data["name"],
            parameters=tuple(
                TaskParameter(
                    name=p["name"],
                    has_default=bool(p.get("has_default")),
                    type=p.get("type"),
                    default_value=p.get("default_value"),
                )
                for p in data.get("parameters") or ()
            ),
            retry=RetryPolicy(
                max_retries=int(retry.get("max_retries", WIRE_DEFAULT_MAX_RETRIES)),
                wait_duration_ms=int(retry.get("wait_duration_ms", WIRE_DEFAULT_WAIT_MS)),
                factor=float(retry.get("factor") or WIRE_DEFAULT_FACTOR),
            ),
            timeout_seconds=int(options.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS),
            plan=options.get("plan"),
        )


@dataclass(frozen=True)
class TaskRecord:
    """A registered task."""

    seq: int
    id: str
    name: str
    workflow_id: str
    workflow_version_id: str
    spec: TaskSpec
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class RunRecord:
    """A task run as stored.

    Its input and results stay JSON text until read (``input``, ``results``): most reads of a run (state
    transitions, a page of runs) never look at them, and they can be large.
    """

    seq: int
    id: str
    task_id: str
    task_name: str
    workflow_id: str
    workflow_version_id: str
    status: str
    input_json: str
    results_json: str | None
    error: str | None
    parent_id: str | None
    parent_attempt: int | None
    root_id: str
    max_retries: int
    wait_duration_ms: int
    backoff_factor: float
    timeout_seconds: int | None
    created_at: datetime
    queued_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    next_attempt_at: datetime | None
    terminal_seq: int | None

    @property
    def is_subtask(self) -> bool:
        """Whether another run started this one."""
        return self.parent_id is not None

    @functools.cached_property
    def input(self) -> Any:
        """The run's input: a JSON array of positional arguments or an object of named ones."""
        return json.loads(self.input_json)

    @functools.cached_property
    def results(self) -> list[Any] | None:
        """What the run returned, once completed."""
        results: list[Any] | None = _json(self.results_json)
        return results


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of a run (0-indexed); its results stay JSON text until read, as a run's do.

    ``pid`` and ``pid_start_time`` name the process group it ran in (its leader, and when that started in
    clock ticks since boot, so that a reused pid is never mistaken for it); None until it has a process.
    """

    run_id: str
    attempt: int
    status: str
    enqueued_at: datetime
    started_at: datetime
    completed_at: datetime | None
    error: str | None
    results_json: str | None
    pid: int | None = None
    pid_start_time: int | None = None

    @functools.cached_property
    def results(self) -> list[Any] | None:
        """What the attempt returned, if it completed."""
        results: list[Any] | None = _json(self.results_json)
        return results


@dataclass(frozen=True)
class LogRecord:
    """One line a worker printed."""

    seq: int
    run_id: str
    attempt: int
    stream: str
    timestamp: datetime
    message: str


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)
