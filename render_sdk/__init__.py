"""render_sdk: the Python SDK for Render Workflows.

Define tasks with :class:`Workflows` and :class:`Retry` (what runs inside a worker process; a task may take a
:class:`TaskContext` first, as in Render SDK 1.x), and trigger
and await runs with :class:`Render` or :class:`RenderSync` (the REST client). The REST client is imported
only when first used, so a worker process stays lean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from render_sdk._version import __version__
from render_sdk.workflows import Retry, TaskContext, TaskInstance, TaskRunMetadata, Workflows

if TYPE_CHECKING:
    from render_sdk.client import Render, RenderAsync, RenderSync

__all__ = [
    "Render",
    "RenderAsync",
    "RenderSync",
    "Retry",
    "TaskContext",
    "TaskInstance",
    "TaskRunMetadata",
    "Workflows",
    "__version__",
]

_CLIENT_NAMES = frozenset({"Render", "RenderAsync", "RenderSync"})


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        import render_sdk.client

        return getattr(render_sdk.client, name)
    raise AttributeError(f"module 'render_sdk' has no attribute {name!r}")
