"""Render's public REST API under ``/v1``, served by the local runtime (starlette).

Request bodies are parsed with, and responses produced from, the models generated from
``openapi/render-public-api.yaml``. Errors are ``{"id", "message"}`` JSON, as on Render; ``Authorization`` is
accepted and ignored.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from render_sdk_public_api.models import (
    RunTask,
    TaskDataType1,
    TaskRunStatus,
    TaskRunWithCursor,
    TaskWithCursor,
    WorkflowVersionWithCursor,
    WorkflowWithCursor,
)
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from render_sdk._protocol.strict_json import InvalidJSON, loads
from render_sdk.local.api.dashboard import dashboard_routes
from render_sdk.local.api.errors import ApiError, StrictJSONResponse, error_response, from_engine
from render_sdk.local.api.events_stream import EventStreams
from render_sdk.local.api.models import (
    task_model,
    task_run_details_model,
    task_run_model,
    workflow_model,
    workflow_version_model,
)
from render_sdk.local.engine.errors import EngineError
from render_sdk.local.engine.records import TERMINAL_STATUSES, LogRecord, RunRecord, TaskRecord, timestamp
from render_sdk.local.engine.states import RunStates
from render_sdk.local.engine.store import Store

__all__ = ["build_app", "resolve_task"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_LOG_LIMIT = 1000
FINISHED_ITEMS_KEPT = 2000
MAX_IDEMPOTENCY_KEY = 255


def resolve_task(store: Store, identifier: str) -> TaskRecord | None:
    """Find an active task by ID (``tsk-...``) or slug; any workflow slug and version are accepted locally."""
    if identifier.startswith("tsk-"):
        task = store.get_task(identifier)
    else:
        name = identifier.rsplit("/", 1)[-1].split(":", 1)[0]
        task = store.get_task_by_name(name)
    return task if task is not None and task.active else None


def build_app(
    store: Store, states: RunStates, heartbeat_seconds: float = 15.0, closing: asyncio.Event | None = None
) -> Starlette:
    """The ASGI app for the REST API, the event stream, the logs and the dashboard.

    Args:
        store: The runs.
        states: The state machine.
        heartbeat_seconds: How often an idle event stream gets a comment.
        closing: Once set, open event streams end and new ones end at once (the server is stopping).
    """
    api = _Handlers(store, states)
    streams = EventStreams(
        store, states.bus, heartbeat_seconds, closing if closing is not None else asyncio.Event()
    )

    def guarded(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return error_response(exc.status, exc.message, exc.headers)
            except EngineError as exc:
                error = from_engine(exc)
                return error_response(error.status, error.message)

        return endpoint

    routes: list[BaseRoute] = [
        *dashboard_routes(),
        Route("/v1/tasks", guarded(api.list_tasks), methods=["GET"]),
        Route("/v1/tasks/{task_id}", guarded(api.get_task), methods=["GET"]),
        Route("/v1/task-runs", guarded(api.create_task_run), methods=["POST"]),
        Route("/v1/task-runs", guarded(api.list_task_runs), methods=["GET"]),
        Route("/v1/task-runs/events", guarded(streams.open), methods=["GET"]),
        Route("/v1/task-runs/{task_run_id}", guarded(api.get_task_run), methods=["GET"]),
        Route("/v1/task-runs/{task_run_id}", guarded(api.cancel_task_run), methods=["DELETE"]),
        Route("/v1/workflows", guarded(api.list_workflows), methods=["GET"]),
        Route("/v1/workflows/{workflow_id}", guarded(api.get_workflow), methods=["GET"]),
        Route("/v1/workflowversions", guarded(api.list_versions), methods=["GET"]),
        Route("/v1/workflowversions/{version_id}", guarded(api.get_version), methods=["GET"]),
        Route("/v1/logs", guarded(api.logs), methods=["GET"]),
    ]
    cloud_only = guarded(api.cloud_only)
    routes += [
        Route("/v1/workflows", cloud_only, methods=["POST"]),
        Route("/v1/workflows/{workflow_id}", cloud_only, methods=["PATCH", "DELETE"]),
        Route("/v1/workflowversions", cloud_only, methods=["POST"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            message = f"{request.method} {request.url.path} is not an endpoint of the local runtime"
        elif exc.status_code == 405:
            message = f"{request.method} is not supported on {request.url.path}"
        else:
            message = str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(routes, request.url.path)
        return error_response(exc.status_code, message, headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        return error_response(500, f"local runtime error: {type(exc).__name__}: {exc}")

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})


class _RunItems:
    """``TaskRunWithCursor`` bodies of pages of runs, built once per finished run.

    A finished run never changes again, so its item is kept (for the :data:`FINISHED_ITEMS_KEPT` most recently
    listed) instead of being rebuilt on every page; unfinished runs are built on each request, with one
    attempts query per page.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._finished: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()

    def of(self, runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
        """The items of ``runs``, in order."""
        kept = self._finished
        missing = [run.id for run in runs if run.id not in kept]
        attempts = self._store.attempts_of_runs(missing)
        items = []
        for run in runs:
            item = kept.get(run.id)
            if item is None:
                model = task_run_model(run, attempts.get(run.id, []))
                item = TaskRunWithCursor(task_run=model, cursor=run.id).to_dict()
                if run.status in TERMINAL_STATUSES:
                    kept[run.id] = item
            else:
                kept.move_to_end(run.id)
            items.append(item)
        while len(kept) > FINISHED_ITEMS_KEPT:
            kept.popitem(last=False)
        return items


class _Handlers:
    def __init__(self, store: Store, states: RunStates) -> None:
        self._store = store
        self._states = states
        self._run_items = _RunItems(store)

    # ---- tasks ---------------------------------------------------------------------------------------------

    async def list_tasks(self, request: Request) -> Response:
        limit = _limit(request)
        names = {_task_name(slug) for slug in _multi(request, "taskSlug", "taskId")}
        workflow_ids = set(_multi(request, "workflowId"))
        version_ids = set(_multi(request, "workflowVersionId"))
        tasks = [
            task
            for task in self._store.list_tasks(active_only=True, after_id=request.query_params.get("cursor"))
            if (not names or task.name in names or task.id in names)
            and (not workflow_ids or task.workflow_id in workflow_ids)
            and (not version_ids or task.workflow_version_id in version_ids)
        ][:limit]
        return _json([TaskWithCursor(task=task_model(task), cursor=task.id).to_dict() for task in tasks])

    async def get_task(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        task = resolve_task(self._store, task_id)
        if task is None:
            raise ApiError(404, f"task {task_id} not found")
        return _json(task_model(task).to_dict())

    # ---- task runs -----------------------------------------------------------------------------------------

    async def create_task_run(self, request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, f"request body must be a JSON object like {_EXAMPLE}, got {_json_type(body)}")
        task_value = body.get("task")
        if not isinstance(task_value, str) or not task_value.strip():
            raise ApiError(400, f"task must be a non-empty string naming the task, as in {_EXAMPLE}")
        if "input" not in body:
            raise ApiError(
                400, "input is required: a JSON array of positional arguments or an object of named arguments"
            )
        if not isinstance(body["input"], (list, dict)):
            raise ApiError(400, f"input must be a JSON array or object, got {_json_type(body['input'])}")
        idempotency_key = body.get("idempotencyKey")
        if idempotency_key is not None and not (
            isinstance(idempotency_key, str) and 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY
        ):
            raise ApiError(
                400,
                f"idempotencyKey must be a string of 1 to {MAX_IDEMPOTENCY_KEY} characters, "
                f"got {_json_type(idempotency_key)}"
                + (f" of {len(idempotency_key)} characters" if isinstance(idempotency_key, str) else ""),
            )
        run_task = RunTask.from_dict(body)
        task = resolve_task(self._store, run_task.task)
        if task is None:
            known = ", ".join(task.name for task in self._store.list_tasks(active_only=True)) or "none"
            raise ApiError(404, f"task {run_task.task!r} not found (registered tasks: {known})")
        input_value = (
            run_task.input_.to_dict() if isinstance(run_task.input_, TaskDataType1) else run_task.input_
        )
        problem = _check_arguments(task, input_value)
        if problem is not None:
            raise ApiError(400, problem)
        run = self._states.create_run(task, input_value, idempotency_key)
        # A run that never started (a new one always: it starts on a later turn of the loop) has no attempts.
        attempts = self._store.attempts(run.id) if run.started_at is not None else []
        return _json(task_run_model(run, attempts).to_dict(), status=202)

    async def list_task_runs(self, request: Request) -> Response:
        limit = _limit(request)
        task_ids: list[str] = []
        slugs = _multi(request, "taskSlug", "taskId")
        for slug in slugs:
            task = self._store.get_task(slug) if slug.startswith("tsk-") else None
            task = task or self._store.get_task_by_name(_task_name(slug))
            if task is not None:
                task_ids.append(task.id)
        if slugs and not task_ids:
            return _json([])
        # status and topLevel are local extensions (openapi/local-runtime.yaml).
        statuses = _multi(request, "status")
        unknown = sorted(set(statuses) - _RUN_STATUSES)
        statuses = ["completed" if status == "succeeded" else status for status in statuses]
        if unknown:
            raise ApiError(
                400, f"status must be one of {', '.join(sorted(_RUN_STATUSES))}; got {', '.join(unknown)}"
            )
        runs = self._store.list_runs(
            after_id=request.query_params.get("cursor"),
            limit=limit,
            task_ids=task_ids,
            root_ids=_multi(request, "rootTaskRunId"),
            workflow_ids=_multi(request, "workflowId"),
            version_ids=_multi(request, "workflowVersionId"),
            statuses=statuses,
            top_level_only=_flag(request, "topLevel"),
        )
        return _json(self._run_items.of(runs))

    async def get_task_run(self, request: Request) -> Response:
        run_id = request.path_params["task_run_id"]
        run = self._store.get_run(run_id)
        if run is None:
            raise ApiError(404, f"task run {run_id} not found")
        return _json(task_run_details_model(run, self._store.attempts(run_id)).to_dict())

    async def cancel_task_run(self, request: Request) -> Response:
        self._states.cancel_tree(request.path_params["task_run_id"])
        return Response(status_code=204)

    # ---- workflows and versions -----------------------------------------------------------------------

    async def list_workflows(self, request: Request) -> Response:
        _limit(request)
        workflow = self._store.get_workflow()
        wanted = set(_multi(request, "workflowID", "workflowId"))
        names = set(_multi(request, "name"))
        if (
            workflow is None
            or request.query_params.get("cursor")
            or (wanted and workflow.id not in wanted)
            or (names and workflow.slug not in names)
        ):
            return _json([])
        return _json([WorkflowWithCursor(workflow=workflow_model(workflow), cursor=workflow.id).to_dict()])

    async def get_workflow(self, request: Request) -> Response:
        workflow_id = request.path_params["workflow_id"]
        workflow = self._store.get_workflow()
        if workflow is None or workflow_id not in (workflow.id, workflow.slug):
            raise ApiError(404, f"workflow {workflow_id} not found")
        return _json(workflow_model(workflow).to_dict())

    async def list_versions(self, request: Request) -> Response:
        limit = _limit(request)
        wanted_workflows = set(_multi(request, "workflowID", "workflowId"))
        wanted_versions = set(_multi(request, "workflowVersionId"))
        versions = [
            version
            for version in self._store.list_versions(request.query_params.get("cursor"), -1)
            if (not wanted_workflows or version.workflow_id in wanted_workflows)
            and (not wanted_versions or version.id in wanted_versions)
        ][:limit]
        return _json(
            [
                WorkflowVersionWithCursor(
                    workflow_version=workflow_version_model(version), cursor=version.id
                ).to_dict()
                for version in versions
            ]
        )

    async def get_version(self, request: Request) -> Response:
        version_id = request.path_params["version_id"]
        version = self._store.get_version(version_id)
        if version is None:
            raise ApiError(404, f"workflow version {version_id} not found")
        return _json(workflow_version_model(version).to_dict())

    async def cloud_only(self, request: Request) -> Response:
        raise ApiError(
            405,
            f"{request.method} {request.url.path} needs Render's cloud: the local runtime serves the one "
            "workflow "
            "it was started with, and registers a new version whenever the worker's source changes",
            headers={"Allow": "GET"},
        )

    # ---- logs ----------------------------------------------------------------------------------------------

    async def logs(self, request: Request) -> Response:
        limit = _limit(request, default=100, maximum=MAX_LOG_LIMIT)
        run_ids = _multi(request, "taskRun", "taskRunID", "taskRunId")
        unknown = [run_id for run_id in run_ids if self._store.get_run(run_id) is None]
        if unknown:
            raise ApiError(404, f"task run(s) not found: {', '.join(unknown)}")
        start = _time_param(request, "startTime")
        end = _time_param(request, "endTime")
        records = self._store.logs(run_ids, start, end, limit=limit + 1)
        has_more = len(records) > limit
        body: dict[str, Any] = {"hasMore": has_more, "logs": [_log(record) for record in records[:limit]]}
        if has_more:
            body["nextStartTime"] = timestamp(records[limit].timestamp)
            body["nextEndTime"] = timestamp(end) if end is not None else timestamp(records[-1].timestamp)
        return _json(body)


_RUN_STATUSES = frozenset(status.value for status in TaskRunStatus)
_EXAMPLE = '{"task": "my-workflow/square", "input": [3]}'


def _json(body: Any, status: int = 200) -> StrictJSONResponse:
    return StrictJSONResponse(body, status_code=status)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise ApiError(400, f"request body is empty; send JSON like {_EXAMPLE}")
    try:
        return loads(raw)
    except InvalidJSON as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _multi(request: Request, *names: str) -> list[str]:
    """An array query parameter, repeated (``a=1&a=2``) or comma-joined (``a=1,2``)."""
    values: list[str] = []
    for name in names:
        for raw in request.query_params.getlist(name):
            values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values


def _limit(request: Request, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, f"limit must be an integer from 1 to {maximum}, got {raw!r}") from None
    if limit < 1:
        raise ApiError(400, f"limit must be an integer from 1 to {maximum}, got {limit}")
    return min(limit, maximum)  # as Render does: a larger limit gets the largest page


def _allowed_methods(routes: Sequence[BaseRoute], path: str) -> str:
    """Every method some route serves on ``path`` (starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.path_regex.match(path) and route.methods:
            methods |= route.methods
    return ", ".join(sorted(methods))


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").strip().lower()
    if raw not in ("true", "false"):
        raise ApiError(400, f"{name} must be true or false, got {raw!r}")
    return raw == "true"


def _time_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{name} must be an RFC 3339 timestamp, got {raw!r}") from None
    if moment.tzinfo is None:
        raise ApiError(400, f"{name} must include a time zone, got {raw!r}")
    return moment


def _task_name(slug: str) -> str:
    return slug.rsplit("/", 1)[-1].split(":", 1)[0]


def _check_arguments(task: TaskRecord, input_value: list[Any] | dict[str, Any]) -> str | None:
    """Compare the input with the parameters the worker registered; None when it fits or nothing is known."""
    parameters = task.spec.parameters
    if not parameters:
        return None
    names = [parameter.name for parameter in parameters]
    required = [parameter.name for parameter in parameters if not parameter.has_default]
    signature = f"{task.name}({', '.join(names)})"
    if isinstance(input_value, list):
        if len(input_value) > len(names):
            return f"{signature} takes {len(names)} argument(s), but input has {len(input_value)}"
        missing = required[len(input_value) :] if len(input_value) < len(required) else []
    else:
        unknown = sorted(set(input_value) - set(names))
        if unknown:
            return f"{signature} has no parameter named {', '.join(map(repr, unknown))}"
        missing = [name for name in required if name not in input_value]
    if missing:
        return f"{signature} is missing required argument(s): {', '.join(map(repr, missing))}"
    return None


def _log(record: LogRecord) -> dict[str, Any]:
    return {
        "id": str(record.seq),
        "labels": [
            {"name": "taskRun", "value": record.run_id},
            {"name": "attempt", "value": str(record.attempt)},
            {"name": "type", "value": record.stream},
        ],
        "message": record.message,
        "timestamp": timestamp(record.timestamp),
    }
