"""The REST client for Render Workflows: start task runs, wait for them, list and cancel them.

``Render`` is asynchronous (``RenderAsync`` is its render 1.x name), ``RenderSync`` is its blocking twin with
the same methods. Names are imported on
first use (PEP 562), so ``import render_sdk.client.errors`` (which worker processes do) pulls in neither httpx
nor the generated models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from render_sdk._lazy_exports import lazy_exports

if TYPE_CHECKING:
    from render_sdk.client._async_client import AwaitableTaskRun, Render, RenderAsync, WorkflowsService
    from render_sdk.client._config import Timeouts
    from render_sdk.client._sync_client import RenderSync, SyncTaskRun, WorkflowsServiceSync
    from render_sdk.client.errors import (
        ClientError,
        RateLimitError,
        RenderError,
        ServerError,
        TaskRunCanceledError,
        TaskRunError,
        TimeoutError,
    )
    from render_sdk.client.types import (
        ListTaskRunsParams,
        ListTasksParams,
        Page,
        Task,
        TaskAttempt,
        TaskRun,
        TaskRunDetails,
        TaskRunEvent,
        TaskRunStatus,
    )

__all__ = [
    "AwaitableTaskRun",
    "ClientError",
    "ListTaskRunsParams",
    "ListTasksParams",
    "Page",
    "RateLimitError",
    "Render",
    "RenderAsync",
    "RenderError",
    "RenderSync",
    "ServerError",
    "SyncTaskRun",
    "Task",
    "TaskAttempt",
    "TaskRun",
    "TaskRunCanceledError",
    "TaskRunDetails",
    "TaskRunError",
    "TaskRunEvent",
    "TaskRunStatus",
    "TimeoutError",
    "Timeouts",
    "WorkflowsService",
    "WorkflowsServiceSync",
]

_HOMES = {
    "AwaitableTaskRun": "_async_client",
    "Render": "_async_client",
    "RenderAsync": "_async_client",
    "WorkflowsService": "_async_client",
    "RenderSync": "_sync_client",
    "SyncTaskRun": "_sync_client",
    "WorkflowsServiceSync": "_sync_client",
    "Timeouts": "_config",
    "ClientError": "errors",
    "RateLimitError": "errors",
    "RenderError": "errors",
    "ServerError": "errors",
    "TaskRunCanceledError": "errors",
    "TaskRunError": "errors",
    "TimeoutError": "errors",
    "ListTaskRunsParams": "types",
    "ListTasksParams": "types",
    "Page": "types",
    "Task": "types",
    "TaskAttempt": "types",
    "TaskRun": "types",
    "TaskRunDetails": "types",
    "TaskRunEvent": "types",
    "TaskRunStatus": "types",
}

__getattr__, __dir__ = lazy_exports(
    __name__, {name: f"render_sdk.client.{home}" for name, home in _HOMES.items()}, globals()
)
