"""The API reads the commands make: tasks with their definitions, run trees, filtered run lists and logs.

Everything goes through the command's :class:`~render_sdk.client.RenderSync`. Two reads are not in Render's
public API and use the local runtime's documented extensions: a task's definition (``parameters``, ``retry``,
``timeoutSeconds``, ``plan`` on task items) and ``GET /v1/logs``. A run's task name is looked up in the task
list, since list items carry only the task's id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx

from render_sdk.client import RenderSync
from render_sdk.client.errors import NotFoundError, RenderError, ServerError, error_from_answer
from render_sdk.client.types import (
    ListTaskRunsParams,
    Task,
    TaskRun,
    TaskRunStatus,
    parse_task_page,
)

from ._shell import CommandError

__all__ = ["Api", "RunNode", "TaskEntry", "duration_seconds"]

#: Page size of every list walked to its end.
PAGE_SIZE = 100


@dataclass(frozen=True)
class TaskEntry:
    """A registered task, its slug, and its definition when the server tells it (else None).

    Attributes:
        task: The task as the public API describes it.
        slug: ``workflow-slug/task-name``, or None when the workflow could not be read.
        parameters: ``[{name, type?, hasDefault?, default?}]`` as the worker registered them.
        retry: ``{maxRetries, waitDurationMs, factor}``.
        timeout_seconds: The attempt timeout.
        plan: The instance type.
    """

    task: Task
    slug: str | None
    parameters: list[dict[str, Any]] | None = None
    retry: dict[str, Any] | None = None
    timeout_seconds: int | None = None
    plan: str | None = None


@dataclass
class RunNode:
    """A run, its task's name, and the subtasks it started (oldest first)."""

    run: TaskRun
    name: str
    children: list[RunNode] = field(default_factory=list)

    def walk(self, depth: int = 0) -> Iterator[tuple[int, RunNode]]:
        """This node and every node below it, depth first, with its depth."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)


def duration_seconds(run: TaskRun, now: datetime | None = None) -> float | None:
    """Seconds from the run's start to its end (or to ``now`` while it runs); None before it starts."""
    if run.started_at is None:
        return None
    end = run.completed_at or now or datetime.now(timezone.utc)
    return max(0.0, (end - run.started_at).total_seconds())


class Api:
    """The reads behind ``tasks``, ``run``, ``runs`` and ``logs``, on one client."""

    def __init__(self, render: RenderSync) -> None:
        self._render = render
        self._tasks: list[TaskEntry] | None = None
        self._names: dict[str, str] = {}

    # ---- tasks --------------------------------------------------------------------------------------------

    def tasks(self) -> list[TaskEntry]:
        """Every registered task, in the order the API lists them."""
        if self._tasks is None:
            slugs: dict[str, str | None] = {}
            entries = []
            for item, task in self._task_items():
                workflow = task.workflow_id or ""
                if workflow not in slugs:
                    slugs[workflow] = self._workflow_slug(workflow)
                slug = slugs[workflow]
                entries.append(_entry(task, f"{slug}/{task.name}" if slug else None, item))
            self._tasks = entries
            self._names.update((entry.task.id, entry.task.name) for entry in entries)
        return self._tasks

    def task_identifier(self, name_or_slug: str) -> str:
        """What to send as a run's task: a slug as given, or the slug (or id) of the task named so.

        Raises:
            CommandError: No registered task has that name.
        """
        if "/" in name_or_slug or name_or_slug.startswith("tsk-"):
            return name_or_slug
        entries = self.tasks()
        for entry in entries:
            if entry.task.name == name_or_slug:
                return entry.slug or entry.task.id
        known = ", ".join(entry.task.name for entry in entries) or "none"
        raise CommandError(f"no task named {name_or_slug!r} (registered tasks: {known})")

    def task_name(self, task_id: str) -> str:
        """The name of the task with this id (looked up once); the id itself when the API no longer has it."""
        if task_id not in self._names:
            self.tasks()
        if task_id not in self._names:
            try:
                self._names[task_id] = self._render.workflows.get_task(task_id).name
            except NotFoundError:  # a task of an older version of the workflow
                self._names[task_id] = task_id
        return self._names[task_id]

    # ---- runs ---------------------------------------------------------------------------------------------

    def runs(self, task: str | None, status: str | None, limit: int) -> list[TaskRun]:
        """The newest ``limit`` runs, of ``task`` (a name or slug) and with ``status`` when given.

        The public API has no status filter, so runs are filtered here while walking the pages.
        """
        params = ListTaskRunsParams(
            limit=min(PAGE_SIZE, limit) if status is None else PAGE_SIZE,
            task_slugs=[self.task_identifier(task)] if task else None,
        )
        wanted = None if status is None else _same_status(status)
        found: list[TaskRun] = []
        for run in self._render.workflows.iter_task_runs(params):
            if wanted is None or _same_status(str(run.status)) == wanted:
                found.append(run)
                if len(found) == limit:
                    break
        return found

    def tree(self, root_id: str) -> RunNode:
        """The tree started by run ``root_id``: every run listed with that ``rootTaskRunId``.

        Raises:
            CommandError: The API lists no run of that tree.
        """
        runs = list(self._render.workflows.iter_task_runs(ListTaskRunsParams(root_task_run_ids=[root_id])))
        nodes = {run.id: RunNode(run, self.task_name(run.task_id)) for run in reversed(runs)}
        if root_id not in nodes:
            raise CommandError(f"task run {root_id} is not listed with rootTaskRunId={root_id}")
        for node in nodes.values():
            parent = nodes.get(node.run.parent_task_run_id or "")
            if parent is not None and node.run.id != root_id:
                parent.children.append(node)
        return nodes[root_id]

    # ---- logs ---------------------------------------------------------------------------------------------

    def logs_page(self, run_id: str, start: str | None) -> dict[str, Any]:
        """One page of ``GET /v1/logs`` (a local runtime extension): ``{logs, hasMore, nextStartTime?}``."""
        query = {"taskRun": run_id, "limit": "1000", **({"startTime": start} if start else {})}
        page: dict[str, Any] = self._get(f"logs of task run {run_id}", "logs", query)
        return page

    # ---- raw reads of the extensions ----------------------------------------------------------------------

    def _task_items(self) -> Iterator[tuple[dict[str, Any], Task]]:
        cursor: str | None = None
        while True:
            query = {"limit": str(PAGE_SIZE), **({"cursor": cursor} if cursor else {})}
            data = self._get("list tasks", "tasks", query)
            page = parse_task_page(data, PAGE_SIZE)
            yield from ((item["task"], task) for item, task in zip(data, page, strict=True))
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def _workflow_slug(self, workflow_id: str | None) -> str | None:
        if not workflow_id:
            return None
        try:
            workflow = self._get(f"get workflow {workflow_id}", f"workflows/{workflow_id}", {})
        except NotFoundError:
            return None
        slug = workflow.get("slug") if isinstance(workflow, dict) else None
        return slug if isinstance(slug, str) and slug else None

    def _get(self, label: str, path: str, query: dict[str, str]) -> Any:
        http = self._render.api_client.get_httpx_client()
        try:
            response = http.get(path, params=query)
        except httpx.TransportError as exc:
            raise ServerError(f"{label} failed: {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise error_from_answer(
                label, response.status_code, response.content, reason=response.reason_phrase
            )
        try:
            return response.json()
        except ValueError as exc:
            raise RenderError(f"{label}: the API answered with a body that is not JSON") from exc


def _entry(task: Task, slug: str | None, item: dict[str, Any]) -> TaskEntry:
    parameters = item.get("parameters")
    retry = item.get("retry")
    timeout = item.get("timeoutSeconds")
    plan = item.get("plan")
    return TaskEntry(
        task=task,
        slug=slug,
        parameters=[p for p in parameters if isinstance(p, dict)] if isinstance(parameters, list) else None,
        retry=retry if isinstance(retry, dict) else None,
        timeout_seconds=timeout if isinstance(timeout, int) and not isinstance(timeout, bool) else None,
        plan=plan if isinstance(plan, str) else None,
    )


def _same_status(status: str) -> str:
    # `succeeded` is the newer spelling of `completed`: a filter for either finds both.
    return TaskRunStatus.COMPLETED.value if status == TaskRunStatus.SUCCEEDED.value else status
