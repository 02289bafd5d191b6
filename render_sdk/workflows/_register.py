"""Register mode: describe every task as ``POST /register-tasks`` expects, and send the list once.

The platform waits for every worker's registration, and a registering worker does nothing else, so this path
is kept to what it needs: a plain blocking socket rather than an event loop (asyncio would be most of the
process's start-up time), and the body built directly as JSON in the shape of the ``Tasks`` schema of
``openapi/callback-api.yaml`` rather than through the generated dataclasses (creating those classes costs a
worker more than defining its tasks does). The receiving side parses it into those dataclasses, which the
tests do too.
"""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Mapping
from typing import Any

from render_sdk._protocol.strict_json import dumps, find_non_json
from render_sdk.client.errors import RenderError
from render_sdk.workflows._options import Options
from render_sdk.workflows._sync_socket_transport import SyncSocketTransport
from render_sdk.workflows._task import Task

__all__ = ["register", "task_definition"]

_SKIPPED_KINDS = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def register(socket_path: str, tasks: Mapping[str, Task[Any, Any]]) -> int:
    """Send ``tasks`` to the callback API on ``socket_path``; return the process exit status."""
    if not tasks:
        print("render_sdk: registering no tasks: no function is decorated with @app.task", file=sys.stderr)
    body = {"tasks": [task_definition(task) for task in tasks.values()]}
    try:
        SyncSocketTransport(socket_path).request("register tasks", "POST", "/register-tasks", body)
    except RenderError as exc:
        print(f"render_sdk: could not register the tasks: {exc}", file=sys.stderr)
        return 1
    return 0


def task_definition(task: Task[Any, Any]) -> dict[str, Any]:
    """``task`` as a ``TaskDefinition`` of ``/register-tasks``: absent optional fields are left out."""
    definition: dict[str, Any] = {"name": task.name, "options": _task_options(task.options)}
    parameters = [
        _describe_parameter(parameter)
        for parameter in task.input_signature.parameters.values()
        if parameter.kind not in _SKIPPED_KINDS
    ]
    if parameters:
        definition["parameters"] = parameters
    return definition


def _task_options(options: Options) -> dict[str, Any]:
    described: dict[str, Any] = {"timeout_seconds": options.timeout, "plan": options.plan}
    retry = options.retry
    if retry is not None:  # Absent: no retries, by the protocol's rule.
        described["retry"] = {
            "max_retries": retry.max_retries,
            "wait_duration_ms": retry.wait_duration_ms,
            "factor": float(retry.backoff_scaling),  # backoff_scaling travels as factor.
        }
    return described


def _describe_parameter(parameter: inspect.Parameter) -> dict[str, Any]:
    described: dict[str, Any] = {"name": parameter.name, "has_default": False}
    if parameter.annotation is not inspect.Parameter.empty:
        described["type"] = _annotation_text(parameter.annotation)
    if parameter.default is not inspect.Parameter.empty:
        described["has_default"] = True
        if find_non_json(parameter.default, parameter.name) is None:
            described["default_value"] = dumps(parameter.default)
    return described


def _annotation_text(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type) and typing.get_origin(annotation) is None:
        return annotation.__name__
    return repr(annotation).replace("typing.", "")
