"""Watch the worker's sources, so tasks are registered again when any of them changes (``watchfiles``).

Any file under the working directory counts, whatever the worker is written in (``.py``, ``.js``, ``.ts``,
configuration...), except in folders that hold no sources of the worker: version control, dependencies,
virtual environments, caches, and ``.render`` (where the local runtime keeps its database).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from watchfiles import DefaultFilter, awatch

__all__ = ["IGNORED_DIRS", "SourceFilter", "source_changes"]

IGNORED_DIRS = (".git", "node_modules", ".venv", "venv", ".render", "__pycache__", "site-packages")


class SourceFilter(DefaultFilter):
    """watchfiles' default filter (editor swap files, ``*.pyc``, tool caches) plus :data:`IGNORED_DIRS`."""

    def __init__(self) -> None:
        super().__init__(ignore_dirs=(*DefaultFilter.ignore_dirs, *IGNORED_DIRS))


async def source_changes(root: Path, stop: asyncio.Event) -> AsyncIterator[set[str]]:
    """The paths that changed under ``root``, a batch at a time (changes 50 ms apart are one batch).

    Ends soon after ``stop`` is set (the watching thread checks it between batches).
    """
    async for changes in awatch(root, watch_filter=SourceFilter(), stop_event=stop, step=50):
        yield {path for _, path in changes}
