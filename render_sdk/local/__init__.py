"""Render's side of Workflows on one machine: ``render-workflows dev``.

The local runtime serves Render's public REST API and task-run event stream (``openapi/``), registers the
worker's tasks, and runs every task-run attempt as a process of the worker command, talking to it over the
callback API on a private Unix socket. Runs, attempts and logs are kept in SQLite, so they survive restarts.

Layers: :mod:`~render_sdk.local.engine` (records, store, state machine; no HTTP, no processes),
:mod:`~render_sdk.local.api` (REST routes and the event stream) and :mod:`~render_sdk.local.attempts`
(orchestrator, callback endpoint, processes), wired together by :mod:`~render_sdk.local.runtime`.

Use it from the command line (``render-workflows dev -- python workflows/main.py``) or embed it::

    runtime = LocalRuntime(DevOptions(command=WorkerCommand.from_args(["workflows/main.py"], Path.cwd(), {})))
    await runtime.serve()

Importing this package is cheap: the names below load their modules (and uvicorn, starlette) on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from render_sdk._lazy_exports import lazy_exports

if TYPE_CHECKING:
    from render_sdk.local.attempts.orchestrator import default_max_concurrency
    from render_sdk.local.attempts.worker_command import WorkerCommand, load_env_file
    from render_sdk.local.runtime import DevOptions, LocalRuntime, PortInUseError

__all__ = [
    "DevOptions",
    "LocalRuntime",
    "PortInUseError",
    "WorkerCommand",
    "default_max_concurrency",
    "load_env_file",
]

_HOMES = {
    "DevOptions": "render_sdk.local.runtime",
    "LocalRuntime": "render_sdk.local.runtime",
    "PortInUseError": "render_sdk.local.runtime",
    "default_max_concurrency": "render_sdk.local.attempts.orchestrator",
    "WorkerCommand": "render_sdk.local.attempts.worker_command",
    "load_env_file": "render_sdk.local.attempts.worker_command",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
