"""The JSON the commands print with ``--json``: the API's camelCase names, plus task names and durations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from render_sdk.client.types import TaskAttempt, TaskRun, TaskRunDetails

from ._api import RunNode, TaskEntry, duration_seconds

__all__ = ["details_json", "run_json", "task_json", "tree_json"]


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _attempt_json(attempt: TaskAttempt) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "attempt": attempt.attempt,
        "status": str(attempt.status),
        "enqueuedAt": _time(attempt.enqueued_at),
        "startedAt": _time(attempt.started_at),
        "completedAt": _time(attempt.completed_at),
    }
    if attempt.error is not None:
        shape["error"] = attempt.error
    return shape


def run_json(run: TaskRun, task_name: str) -> dict[str, Any]:
    """A run as listed."""
    return {
        "id": run.id,
        "taskId": run.task_id,
        "taskName": task_name,
        "status": str(run.status),
        "parentTaskRunId": run.parent_task_run_id,
        "rootTaskRunId": run.root_task_run_id,
        "startedAt": _time(run.started_at),
        "completedAt": _time(run.completed_at),
        "durationSeconds": duration_seconds(run),
        "retries": run.retries,
        "attempts": [_attempt_json(attempt) for attempt in run.attempts],
    }


def tree_json(node: RunNode) -> dict[str, Any]:
    """A run and, under ``subtasks``, the runs it started, recursively."""
    return {**run_json(node.run, node.name), "subtasks": [tree_json(child) for child in node.children]}


def details_json(details: TaskRunDetails, tree: RunNode) -> dict[str, Any]:
    """A run's details (input, results, error) with its tree."""
    return {
        **tree_json(tree),
        **run_json(details, tree.name),
        "input": details.input_,
        "results": details.results,
        "error": details.error,
    }


def task_json(entry: TaskEntry) -> dict[str, Any]:
    """A registered task with its definition (null where the server does not tell it)."""
    task = entry.task
    return {
        "id": task.id,
        "name": task.name,
        "slug": entry.slug,
        "workflowId": task.workflow_id,
        "workflowVersionId": task.workflow_version_id,
        "createdAt": _time(task.created_at),
        "parameters": entry.parameters,
        "retry": entry.retry,
        "timeoutSeconds": entry.timeout_seconds,
        "plan": entry.plan,
    }
