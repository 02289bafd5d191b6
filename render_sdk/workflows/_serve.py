"""Serving a worker process: read what Render asked for, then register every task or run one.

Each mode's machinery is imported only when that mode runs: registering needs no event loop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from render_sdk.workflows._app import MODE_VARIABLE, SOCKET_VARIABLE
from render_sdk.workflows._task import Task

__all__ = ["MODES", "serve"]

MODES = ("register", "run")


def serve(tasks: Mapping[str, Task[Any, Any]]) -> int:
    """Register ``tasks`` or run one of them, as ``RENDER_SDK_MODE`` says; return the process exit status.

    Raises:
        ValueError: ``RENDER_SDK_MODE`` or ``RENDER_SDK_SOCKET_PATH`` is missing, or the mode is unknown.
    """
    mode = os.environ.get(MODE_VARIABLE)
    socket_path = os.environ.get(SOCKET_VARIABLE)
    hint = "Render sets it when it starts the worker; to run tasks on this machine use `render-workflows dev`"
    if not mode:
        raise ValueError(
            f"the {MODE_VARIABLE} environment variable is required ({' or '.join(MODES)}): {hint}"
        )
    if mode not in MODES:
        raise ValueError(f"unknown {MODE_VARIABLE} {mode!r}: expected one of {', '.join(MODES)}")
    if not socket_path:
        raise ValueError(f"the {SOCKET_VARIABLE} environment variable is required: {hint}")
    if mode == "register":
        from render_sdk.workflows._register import register

        return register(socket_path, tasks)
    from render_sdk.workflows._runtime import run

    return run(socket_path, tasks)
