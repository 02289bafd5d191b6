"""Define tasks and serve them inside a worker process.

Define tasks with :class:`Workflows` and :meth:`Workflows.task`. Inside a running task, calling another task
starts it as a subtask and returns a :class:`TaskInstance` to await; a task whose first parameter is annotated
:class:`TaskContext` can instead ``await ctx.run(task, ...)`` for the result (Render SDK 1.x's style). Either
style reads who the run is from ``ctx.metadata`` or :func:`current_run`. When Render starts the worker (with
``RENDER_SDK_MODE`` and ``RENDER_SDK_SOCKET_PATH`` set), ``auto_start=True``, :meth:`Workflows.start` or the
``render-workflows module:app`` command registers the tasks or runs one of them.

Defining tasks imports only a few standard-library modules (no dataclasses, no event loop), so a worker
stays lean; what each mode needs (the socket transport; asyncio only to run an async task) is imported when
the worker starts serving.
"""

from render_sdk.workflows._app import Workflows
from render_sdk.workflows._metadata import TaskRunMetadata
from render_sdk.workflows._options import Retry
from render_sdk.workflows._task import Task, TaskContext, TaskInstance, current_run

__all__ = ["Retry", "Task", "TaskContext", "TaskInstance", "TaskRunMetadata", "Workflows", "current_run"]
