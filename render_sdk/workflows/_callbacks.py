"""The callback API's bodies as a worker sends and reads them (``openapi/callback-api.yaml``).

Plain JSON-ready dicts in the shape of the spec's schemas, not the generated dataclasses: a worker makes a
handful of requests, and creating those classes (with ``dataclasses`` and ``inspect``) would cost it more than
the requests do. The tests parse every body built here into the generated models, and check that these
readers accept and reject answers as the models do; the local runtime reads and writes through the models.
Absent optional fields are left out, and a ``null`` counts as absent, as in :mod:`render_sdk._protocol.wire`.
"""

from __future__ import annotations

import sys
from typing import Any

from render_sdk._protocol.payload import WireError, decode_payload, encode_payload
from render_sdk.client.errors import RenderError, TaskRunError
from render_sdk.workflows._execute import describe_error
from render_sdk.workflows._metadata import TaskRunMetadata

__all__ = [
    "completed",
    "failed",
    "read_input",
    "read_subtask_result",
    "read_subtask_run_id",
    "subtask_request",
    "subtask_result_request",
]

_INPUT = "GET /input answer"
_SUBMITTED = "POST /run-subtask answer"
_RESULT = "POST /get-subtask-result answer"


def read_input(answer: Any) -> tuple[str, str, TaskRunMetadata]:
    """The task name, the base64 input and the run's identity from a ``GET /input`` answer (``TaskInput``).

    What the runtime leaves out (older ones send no ids, Render sends no attempt) or sends empty is None in
    the identity.

    Raises:
        WireError: The answer does not match the spec, or the attempt is negative.
    """
    body = _object(answer, _INPUT)
    task_name: str = _field(body, "task_name", str, _INPUT, required=True)
    payload: str = _field(body, "input", str, _INPUT, required=True)
    task_run_id = _field(body, "task_run_id", str, _INPUT) or None
    root_task_run_id = _field(body, "root_task_run_id", str, _INPUT) or None
    parent_task_run_id = _field(body, "parent_task_run_id", str, _INPUT) or None
    attempt: int | None = _field(body, "attempt", int, _INPUT)
    if attempt is not None and attempt < 0:
        raise WireError(f"{_INPUT}.attempt must be an int >= 0, got {attempt!r}")
    metadata = TaskRunMetadata(task_run_id, root_task_run_id, parent_task_run_id, task_name, attempt)
    return task_name, payload, metadata


def completed(result: Any) -> dict[str, Any]:
    """The ``POST /callback`` body of a run that returned ``result`` (strict JSON), wrapped in an array."""
    return {"complete": {"output": encode_payload([result])}}


def failed(task_name: str, exc: Exception) -> dict[str, Any]:
    """The ``POST /callback`` body of a run whose task raised ``exc``, which is printed on stderr too (where
    the runtime keeps it with the run's logs)."""
    details, stack_trace = describe_error(exc)
    print(f"render_sdk: task {task_name!r} failed\n{stack_trace}", end="", file=sys.stderr)
    return {"error": {"details": details, "stack_trace": stack_trace}}


def subtask_request(task_name: str, input_value: list[Any] | dict[str, Any]) -> dict[str, Any]:
    """A ``POST /run-subtask`` body, with the idempotency key and time that every retry of it resends."""
    # Imported here: only a task that starts subtasks needs them (uuid imports platform).
    import uuid
    from datetime import datetime, timezone

    return {
        "task_name": task_name,
        "input": encode_payload(input_value),
        "idempotency_key": str(uuid.uuid4()),
        "created_at": datetime.now(timezone.utc).isoformat(),
    }


def read_subtask_run_id(answer: Any) -> str:
    """The subtask's run id from a ``POST /run-subtask`` answer (``RunSubtaskResponse``).

    Raises:
        WireError: The answer does not match the spec.
    """
    task_run_id: str = _field(_object(answer, _SUBMITTED), "task_run_id", str, _SUBMITTED, required=True)
    return task_run_id


def subtask_result_request(task_run_id: str) -> dict[str, Any]:
    """A ``POST /get-subtask-result`` body."""
    return {"task_run_id": task_run_id}


def read_subtask_result(answer: Any, task_name: str, task_run_id: str) -> tuple[bool, Any]:
    """``(True, return value)`` from a ``POST /get-subtask-result`` answer of a finished subtask,
    ``(False, None)`` while it is still running.

    Raises:
        TaskRunError: The subtask failed.
        WireError: The answer does not match the spec.
        RenderError: The answer says neither still running, complete nor failed, or the output is not a
            one-element array.
    """
    # Every field is checked, in the schema's order as parsing into the model does, before any is acted on.
    body = _object(answer, _RESULT)
    still_running: bool = _field(body, "still_running", bool, _RESULT, required=True)
    complete = _optional_object(body, "complete", _RESULT)
    output: str | None = None
    if complete is not None:
        output = _field(complete, "output", str, f"{_RESULT}.complete", required=True)
    error = _optional_object(body, "error", _RESULT)
    if error is not None:
        details: str = _field(error, "details", str, f"{_RESULT}.error", required=True)
        stack_trace: str | None = _field(error, "stack_trace", str, f"{_RESULT}.error")
        sent = {"details": details}
        if stack_trace is not None:
            sent["stack_trace"] = stack_trace
        message = f"subtask {task_name!r} ({task_run_id}) failed: {details}"
        raise TaskRunError(message, error=details, body=sent)
    if output is not None:
        return True, _unwrap(task_name, task_run_id, output)
    if not still_running:
        raise RenderError(
            f"subtask {task_name!r} ({task_run_id}): get-subtask-result answered neither still_running, "
            "complete nor error"
        )
    return False, None


def _unwrap(task_name: str, task_run_id: str, output: str) -> Any:
    value = decode_payload(output, f"subtask {task_name!r} output")
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    raise RenderError(
        f"subtask {task_name!r} ({task_run_id}) output is {value!r}; expected a one-element JSON array "
        "holding the return value"
    )


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(f"{path} must be a JSON object, got {type(value).__name__}")
    return value


def _optional_object(body: dict[str, Any], name: str, path: str) -> dict[str, Any] | None:
    value = body.get(name)
    return None if value is None else _object(value, f"{path}.{name}")


def _field(body: dict[str, Any], name: str, kind: type, path: str, *, required: bool = False) -> Any:
    """``body[name]`` if it is a ``kind`` (a bool is no int), None if absent or null.

    Raises:
        WireError: The value is of another type, or absent although ``required``.
    """
    value = body.get(name)
    if value is None:
        if required:
            raise WireError(f"{path}.{name} is required")
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise WireError(f"{path}.{name} must be {kind.__name__}, got {type(value).__name__}")
    return value
