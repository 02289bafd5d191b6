"""Who a running task is: :class:`TaskRunMetadata`, read as ``ctx.metadata`` or from ``current_run()``."""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string annotation when the
# class is created, which at `import render_sdk` costs more than this whole module's other work.

from typing import NamedTuple

__all__ = ["TaskRunMetadata"]


class TaskRunMetadata(NamedTuple):
    """Who a running task is: read it as ``ctx.metadata`` or from :func:`current_run`.

    Each field is None when unavailable (a Render runtime that does not send it). For a root run
    ``root_task_run_id`` equals ``task_run_id`` and ``parent_task_run_id`` is None.

    Attributes:
        task_run_id: This run's id (``trn-...``).
        root_task_run_id: The id of the run at the root of this run's tree.
        parent_task_run_id: The id of the run that started this one as a subtask.
        task_name: The registered name of the running task.
        attempt: Which attempt of the run this is, counting from 0 as the REST API's ``attempts[].attempt``
            does (0 on the first attempt, 1 on the first retry).
    """

    task_run_id: str | None = None
    root_task_run_id: str | None = None
    parent_task_run_id: str | None = None
    task_name: str | None = None
    attempt: int | None = None
