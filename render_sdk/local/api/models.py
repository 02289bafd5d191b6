"""Store records as the generated REST models (``render_sdk_public_api.models``), so responses match the spec.

The attempt index (``attempt``), the attempt's ``taskRunId`` and a subtask's ``parentTaskAttempt`` are not in
Render's published description that ``openapi/`` follows, but current clients require ``attempt``; they travel
as additional properties of the generated models. So do the local runtime's own extensions, documented in
``openapi/local-runtime.yaml``: a run's ``taskName``, ``createdAt`` and ``nextAttemptAt``, and a task's
``parameters``, ``retry``, ``timeoutSeconds`` and ``plan``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from render_sdk_public_api.models import (
    BuildConfig,
    Region,
    Runtime,
    Task,
    TaskAttempt,
    TaskAttemptDetails,
    TaskDataType1,
    TaskRun,
    TaskRunDetails,
    TaskRunStatus,
    Workflow,
    WorkflowVersion,
    WorkflowVersionStatus,
)
from render_sdk_public_api.types import UNSET

from render_sdk.local.engine.records import (
    AttemptRecord,
    RunRecord,
    TaskRecord,
    TaskSpec,
    VersionRecord,
    WorkflowRecord,
    timestamp,
)

__all__ = [
    "task_model",
    "task_run_details_model",
    "task_run_model",
    "workflow_model",
    "workflow_version_model",
]

LOCAL_OWNER_ID = "local"


def task_model(task: TaskRecord) -> Task:
    """A registered task, with its definition (a local extension)."""
    model = Task(
        id=task.id,
        name=task.name,
        created_at=task.created_at,
        workflow_id=task.workflow_id,
        workflow_version_id=task.workflow_version_id,
    )
    return _extended(model, _definition(task.spec))


def task_run_model(run: RunRecord, attempts: list[AttemptRecord]) -> TaskRun:
    """A run as returned by create and list."""
    model = TaskRun(**_run_fields(run, attempts), attempts=[_attempt(attempt) for attempt in attempts])
    return _extended(model, _run_extensions(run))


def task_run_details_model(run: RunRecord, attempts: list[AttemptRecord]) -> TaskRunDetails:
    """A run with its input, results and attempts' outcomes: the get response and the SSE payload."""
    model = TaskRunDetails(
        **_run_fields(run, attempts),
        results=run.results if run.results is not None else [],
        input_=_task_data(run.input),
        attempts=[_attempt_details(attempt, run.results) for attempt in attempts],
        error=run.error if run.error is not None else UNSET,
    )
    return _extended(model, _run_extensions(run))


def _run_fields(run: RunRecord, attempts: list[AttemptRecord]) -> dict[str, Any]:
    """The fields a list item and a run's details share."""
    return {
        "id": run.id,
        "task_id": run.task_id,
        "status": TaskRunStatus(run.status),
        "parent_task_run_id": run.parent_id or "",
        "root_task_run_id": run.root_id,
        "retries": _retries(attempts),
        "started_at": run.started_at or UNSET,
        "completed_at": run.completed_at or UNSET,
    }


def workflow_model(workflow: WorkflowRecord) -> Workflow:
    """The local workflow, described as a Render workflow service."""
    return Workflow(
        id=workflow.id,
        name=workflow.slug,
        owner_id=LOCAL_OWNER_ID,
        created_at=workflow.created_at,
        updated_at=workflow.updated_at,
        build_config=BuildConfig(build_command="", repo="", runtime=_runtime(workflow.run_command)),
        run_command=workflow.run_command,
        region=Region.OREGON,
        slug=workflow.slug,
    )


def workflow_version_model(version: VersionRecord) -> WorkflowVersion:
    """One registration of the worker's tasks."""
    model = WorkflowVersion(
        id=version.id,
        workflow_id=version.workflow_id,
        name=version.name,
        created_at=version.created_at,
        status=WorkflowVersionStatus(version.status),
    )
    # Required by Render's spec, which gives them no schema: a local version has no image, and never changes.
    return _extended(model, {"image": "", "updatedAt": version.created_at.isoformat()})


def _run_extensions(run: RunRecord) -> dict[str, Any]:
    extensions: dict[str, Any] = {"taskName": run.task_name, "createdAt": timestamp(run.created_at)}
    if run.parent_attempt is not None:
        extensions["parentTaskAttempt"] = run.parent_attempt
    if run.next_attempt_at is not None:
        extensions["nextAttemptAt"] = timestamp(run.next_attempt_at)
    return extensions


def _definition(spec: TaskSpec) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "parameters": [
            {
                key: value
                for key, value in (
                    ("name", parameter.name),
                    ("hasDefault", parameter.has_default),
                    ("type", parameter.type),
                    ("default", parameter.default_value),
                )
                if value is not None
            }
            for parameter in spec.parameters
        ],
        "retry": {
            "maxRetries": spec.retry.max_retries,
            "waitDurationMs": spec.retry.wait_duration_ms,
            "factor": spec.retry.factor,
        },
    }
    if spec.timeout_seconds is not None:
        definition["timeoutSeconds"] = spec.timeout_seconds
    if spec.plan is not None:
        definition["plan"] = spec.plan
    return definition


def _retries(attempts: list[AttemptRecord]) -> int:
    return max(0, len(attempts) - 1)


def _attempt(attempt: AttemptRecord) -> TaskAttempt:
    return _extended(TaskAttempt(**_attempt_fields(attempt)), _attempt_extensions(attempt))


def _attempt_details(attempt: AttemptRecord, run_results: list[Any] | None) -> TaskAttemptDetails:
    # A result is stored once, with the run; the completed attempt (always the last) is where it came from.
    results = run_results if attempt.status == "completed" else attempt.results
    model = TaskAttemptDetails(
        **_attempt_fields(attempt),
        error=attempt.error if attempt.error is not None else UNSET,
        results=results if results is not None else UNSET,
    )
    return _extended(model, _attempt_extensions(attempt))


def _attempt_fields(attempt: AttemptRecord) -> dict[str, Any]:
    """The fields an attempt in a list item and in a run's details share."""
    return {
        "status": TaskRunStatus(attempt.status),
        "started_at": attempt.started_at,
        "enqueued_at": attempt.enqueued_at,
        "completed_at": attempt.completed_at or UNSET,
    }


def _attempt_extensions(attempt: AttemptRecord) -> dict[str, Any]:
    return {"attempt": attempt.attempt, "taskRunId": attempt.run_id}


Model = TypeVar("Model", Task, TaskRun, TaskRunDetails, WorkflowVersion, TaskAttempt, TaskAttemptDetails)


def _extended(model: Model, extensions: dict[str, Any]) -> Model:
    """``model`` with ``extensions``: properties beyond Render's spec, sent as they are."""
    model.additional_properties.update(extensions)
    return model


def _task_data(value: Any) -> list[Any] | TaskDataType1:
    if isinstance(value, list):
        return value
    return TaskDataType1.from_dict(value)


def _runtime(run_command: str) -> Runtime:
    for runtime in Runtime:
        if runtime.value in run_command:
            return runtime
    return Runtime.PYTHON
