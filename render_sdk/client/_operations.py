"""Every REST request the hand-written client makes: its validated arguments, its wire form and its parser.

The async and sync clients both turn an :class:`Operation` into I/O; nothing here does any. Paths and query
names follow ``openapi/render-public-api.yaml`` (tests/client/test_operations.py checks them against it).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from render_sdk._protocol.strict_json import dumps, find_non_json
from render_sdk.client.types import (
    ListTaskRunsParams,
    ListTasksParams,
    Page,
    Task,
    TaskRun,
    TaskRunDetails,
    parse_task,
    parse_task_page,
    parse_task_run,
    parse_task_run_details,
    parse_task_run_page,
)

__all__ = [
    "EVENTS_PATH",
    "Operation",
    "cancel_task_run",
    "check_idempotency_key",
    "check_input",
    "check_task_identifier",
    "check_task_run_id",
    "check_task_run_ids",
    "check_timeout",
    "create_task_run",
    "events_query",
    "events_query_cost",
    "get_task",
    "get_task_run",
    "list_task_runs",
    "list_tasks",
    "split_for_streams",
]

Result = TypeVar("Result")

EVENTS_PATH = "/task-runs/events"
#: The longest query of one event stream. Servers and proxies commonly refuse request lines past 8 KiB
#: (nginx, Apache), and httpx refuses URLs past 64 KiB: waits on more runs are spread over several streams.
MAX_EVENTS_QUERY_BYTES = 7_500
#: ``idempotencyKey`` length limits of ``POST /task-runs``.
MAX_IDEMPOTENCY_KEY_LENGTH = 255

# `workflow-slug/task-name`, optionally `:version`; or a task id (`tsk-...`), which older API versions accept.
_TASK_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9_][A-Za-z0-9._-]*(:[A-Za-z0-9._-]+)?")
_TASK_ID = re.compile(r"tsk-[A-Za-z0-9]+")
# Ids end up in URL paths: nothing that could change the path or the query.
_RESOURCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]*")


@dataclass(frozen=True)
class Operation(Generic[Result]):
    """One REST request, ready to send, and how to read its answer.

    Attributes:
        label: What the request does, for messages (``"get task run trn-123"``).
        method: HTTP method.
        path: Path relative to the API root (``/v1``).
        params: Query parameters as pairs. Array parameters are sent as the spec says: a repeated key
            (form, explode) or one comma-separated value (form, no explode: ``ownerId``).
        body: JSON body text, or None.
        parse: Turns the decoded JSON body (None for an empty body) into the result.
    """

    label: str
    method: str
    path: str
    params: tuple[tuple[str, str], ...]
    body: str | None
    parse: Callable[[Any], Result]


def check_task_identifier(task_identifier: object) -> str:
    """Return ``task_identifier`` if it looks like ``workflow-slug/task-name[:version]`` (or ``tsk-...``)."""
    if not isinstance(task_identifier, str):
        raise TypeError(
            "task_identifier must be a string like 'my-workflow/square', "
            f"got {type(task_identifier).__name__}"
        )
    if not task_identifier.strip():
        raise ValueError("task_identifier must not be empty; use 'workflow-slug/task-name'")
    if not (_TASK_IDENTIFIER.fullmatch(task_identifier) or _TASK_ID.fullmatch(task_identifier)):
        raise ValueError(
            f"task_identifier {task_identifier!r} is malformed; use 'workflow-slug/task-name', "
            "optionally followed by ':version'"
        )
    return task_identifier


def _check_id(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    if not _RESOURCE_ID.fullmatch(value):
        raise ValueError(
            f"{name} {value!r} is malformed: expected letters, digits and '-' (like 'trn-abc123')"
        )
    return value


def check_task_run_id(task_run_id: object) -> str:
    """Return ``task_run_id`` if it is a well-formed run id."""
    return _check_id("task_run_id", task_run_id)


def check_task_run_ids(task_run_ids: object) -> list[str]:
    """Return the ids as a list if it is a non-empty list (or tuple...) of well-formed run ids."""
    if isinstance(task_run_ids, (str, bytes)) or not isinstance(task_run_ids, Sequence):
        raise TypeError(f"task_run_ids must be a list of run ids, got {type(task_run_ids).__name__}")
    run_ids = [_check_id(f"task_run_ids[{index}]", run_id) for index, run_id in enumerate(task_run_ids)]
    if not run_ids:
        raise ValueError("task_run_ids must name at least one run")
    return run_ids


def check_timeout(timeout: object) -> None:
    """Accept None (no limit) or a positive number of seconds."""
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")


def check_input(input_data: object) -> list[Any] | dict[str, Any]:
    """Return the task input as a list (positional) or dict (named), or raise naming the offending value."""
    if isinstance(input_data, tuple):
        input_data = list(input_data)
    if not isinstance(input_data, (list, dict)):
        raise TypeError(
            "input_data must be a list or tuple (positional arguments) or a dict (named arguments), "
            f"got {type(input_data).__name__}"
        )
    problem = find_non_json(input_data, "input_data")
    if problem is not None:
        raise ValueError(f"input_data cannot be sent as JSON: {problem}")
    return input_data


def check_idempotency_key(idempotency_key: object) -> str | None:
    """Return the key if it is None or a string of 1 to 255 characters."""
    if idempotency_key is None:
        return None
    if not isinstance(idempotency_key, str):
        raise TypeError(f"idempotency_key must be a string or None, got {type(idempotency_key).__name__}")
    if not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ValueError(
            f"idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters, "
            f"got {len(idempotency_key)}"
        )
    return idempotency_key


def create_task_run(
    task_identifier: object, input_data: object, idempotency_key: object = None
) -> Operation[TaskRun]:
    """``POST /task-runs``: start a run.

    The request always carries an ``idempotencyKey`` (the caller's, else a new random one), so sending it
    again after any failure returns the run the first one started instead of starting a second.
    """
    task = check_task_identifier(task_identifier)
    key = check_idempotency_key(idempotency_key) or uuid.uuid4().hex
    body = dumps({"task": task, "input": check_input(input_data), "idempotencyKey": key})
    return Operation(f"run task {task}", "POST", "/task-runs", (), body, parse_task_run)


def get_task_run(task_run_id: object) -> Operation[TaskRunDetails]:
    """``GET /task-runs/{id}``."""
    run_id = check_task_run_id(task_run_id)
    return Operation(
        f"get task run {run_id}", "GET", f"/task-runs/{run_id}", (), None, parse_task_run_details
    )


def cancel_task_run(task_run_id: object) -> Operation[None]:
    """``DELETE /task-runs/{id}``."""
    run_id = check_task_run_id(task_run_id)
    return Operation(f"cancel task run {run_id}", "DELETE", f"/task-runs/{run_id}", (), None, _nothing)


def list_task_runs(params: ListTaskRunsParams | None) -> Operation[Page[TaskRun]]:
    """``GET /task-runs``: one page."""
    params = params if params is not None else ListTaskRunsParams()
    if not isinstance(params, ListTaskRunsParams):
        raise TypeError(f"params must be a ListTaskRunsParams or None, got {type(params).__name__}")
    query = (
        _paging(params.limit, params.cursor)
        + _repeated(("taskSlug", params.task_slugs), ("rootTaskRunId", params.root_task_run_ids))
        + _comma_joined("ownerId", params.owners)
        + _repeated(("workflowVersionId", params.workflow_version_ids), ("workflowId", params.workflow_ids))
    )
    limit = params.limit
    return Operation(
        "list task runs",
        "GET",
        "/task-runs",
        query,
        None,
        lambda body: parse_task_run_page(body, limit),
    )


def list_tasks(params: ListTasksParams | None) -> Operation[Page[Task]]:
    """``GET /tasks``: one page."""
    params = params if params is not None else ListTasksParams()
    if not isinstance(params, ListTasksParams):
        raise TypeError(f"params must be a ListTasksParams or None, got {type(params).__name__}")
    query = (
        _paging(params.limit, params.cursor)
        + _comma_joined("ownerId", params.owners)
        + _repeated(
            ("taskSlug", params.task_slugs),
            ("workflowVersionId", params.workflow_version_ids),
            ("workflowId", params.workflow_ids),
        )
    )
    limit = params.limit
    return Operation("list tasks", "GET", "/tasks", query, None, lambda data: parse_task_page(data, limit))


#: Page size used when walking every page and the caller did not choose one.
ITER_PAGE_SIZE = 100

Params = TypeVar("Params", ListTaskRunsParams, ListTasksParams)


def first_page(params: Params) -> Params:
    """The parameters of the first page when walking every page: the caller's, with a page size."""
    return params if params.limit is not None else dataclasses.replace(params, limit=ITER_PAGE_SIZE)


def next_page(params: Params, page: Page[Any]) -> Params | None:
    """The parameters of the page after ``page``, or None when ``page`` was the last."""
    if page.next_cursor is None:
        return None
    return dataclasses.replace(params, cursor=page.next_cursor)


def get_task(task_id: object) -> Operation[Task]:
    """``GET /tasks/{id}``."""
    checked = _check_id("task_id", task_id)
    return Operation(f"get task {checked}", "GET", f"/tasks/{checked}", (), None, parse_task)


def events_query(task_run_ids: Sequence[str]) -> list[tuple[str, str]]:
    """The query of ``GET /task-runs/events``: one repeated ``taskRunIds`` key per run.

    Raises:
        ValueError: The ids do not fit in one URL (see :func:`split_for_streams`).
    """
    if sum(map(events_query_cost, task_run_ids)) > MAX_EVENTS_QUERY_BYTES:
        raise ValueError(
            f"{len(task_run_ids)} task run ids do not fit in one event stream's URL "
            f"({MAX_EVENTS_QUERY_BYTES} bytes of query); follow fewer runs per call"
        )
    return [("taskRunIds", run_id) for run_id in task_run_ids]


def events_query_cost(task_run_id: str) -> int:
    """The bytes ``task_run_id`` adds to the query of ``GET /task-runs/events`` (``&taskRunIds=<id>``)."""
    # Checked ids hold only unreserved characters, so they are sent as they are.
    return len("&taskRunIds=") + len(task_run_id)


def split_for_streams(task_run_ids: Sequence[str]) -> list[list[str]]:
    """The ids in as few groups as fit one event stream's URL each, in their order."""
    groups: list[list[str]] = []
    used = MAX_EVENTS_QUERY_BYTES
    for run_id in task_run_ids:
        cost = events_query_cost(run_id)
        if used + cost > MAX_EVENTS_QUERY_BYTES:
            groups.append([])
            used = 0
        groups[-1].append(run_id)
        used += cost
    return groups


def _paging(limit: int | None, cursor: str | None) -> tuple[tuple[str, str], ...]:
    pairs = []
    if limit is not None:
        pairs.append(("limit", str(limit)))
    if cursor is not None:
        pairs.append(("cursor", cursor))
    return tuple(pairs)


def _repeated(*filters: tuple[str, Sequence[str] | None]) -> tuple[tuple[str, str], ...]:
    return tuple((name, value) for name, values in filters for value in values or ())


def _comma_joined(name: str, values: Sequence[str] | None) -> tuple[tuple[str, str], ...]:
    # The spec declares `ownerId` as form style without explode: one comma-separated value.
    return ((name, ",".join(values)),) if values else ()


def _nothing(_: Any) -> None:
    return None
