"""Render's side of Workflows on one machine: ``render-workflows dev``.

The local runtime serves Render's public REST API and task-run event stream (``openapi/``), registers the
worker's tasks, and runs every task-run attempt as a process of the worker command, talking to it over the
callback API on a private Unix socket. Runs, attempts and logs are kept in SQLite, so they survive restarts.

Use it from the command line (``render-workflows dev -- python workflows/main.py``) or embed it::

    runtime = LocalRuntime(DevOptions(command=WorkerCommand.from_args(["workflows/main.py"], Path.cwd(), {})))
    await runtime.serve()
"""

from render_sdk.local._runtime import DevOptions, LocalRuntime, PortInUseError, default_max_concurrency
from render_sdk.local._worker_command import WorkerCommand, load_env_file

__all__ = [
    "DevOptions",
    "LocalRuntime",
    "PortInUseError",
    "WorkerCommand",
    "default_max_concurrency",
    "load_env_file",
]
