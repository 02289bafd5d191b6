"""Serving a worker process once: what Render asked for (register every task or run one), and the
process-wide bookkeeping that makes it happen exactly once.

Why process-wide: in the documented multi-file layout, ``python workflows/main.py`` runs ``main.py`` as
``__main__`` and ``from main import app`` imports the same file again as ``main``, so two apps exist and the
tasks end up on the second one. A worker process must still register once (register mode) or run one task
once (run mode), with every task visible. So :data:`PROCESS` (the one :class:`ProcessServing`) records every
app, installs at most one exit hook (``auto_start``), and marks the process as served by whatever serves
first; nothing serves again. The prefork zygote (:mod:`render_sdk.workflows._zygote`) asks it whether the
program served while being imported, and serves each forked child through the same exit hook.

Each mode's machinery is imported only when that mode runs: registering needs no event loop.
"""

from __future__ import annotations

import atexit
import os
import sys
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from render_sdk._protocol.worker_env import MODE_VARIABLE, MODES, SOCKET_VARIABLE

if TYPE_CHECKING:
    from render_sdk.workflows._app import Workflows
    from render_sdk.workflows._task import Task

__all__ = ["PROCESS", "ProcessServing", "exit_process", "merge_task_lists", "merge_tasks", "serve"]

Tasks = Mapping[str, "Task[Any, Any]"]


class ProcessServing:
    """This process's apps and whether it has served them; one per process (:data:`PROCESS`)."""

    def __init__(self) -> None:
        self._apps: list[weakref.ref[Workflows]] = []
        self._served = False
        self._exit_hook_installed = False

    @property
    def served(self) -> bool:
        """Whether this process has registered or run its tasks (or started to)."""
        return self._served

    @property
    def exit_hook_installed(self) -> bool:
        """Whether an ``auto_start`` app exists, so the tasks are served when the program exits."""
        return self._exit_hook_installed

    def add_app(self, app: Workflows) -> None:
        """Record ``app``; with ``app.auto_start``, install the exit hook (once per process)."""
        self._apps.append(weakref.ref(app))
        if app.auto_start and not self._exit_hook_installed:
            self._exit_hook_installed = True
            atexit.register(self.serve_at_exit)

    def live_apps(self) -> list[Workflows]:
        """Every app created in this process that still exists, oldest first."""
        apps = [ref() for ref in self._apps]
        return [app for app in apps if app is not None]

    def serve_once(self, tasks: Tasks) -> int:
        """Serve ``tasks`` unless this process already did, and return the exit status.

        Raises:
            RuntimeError: This process has already served.
            ValueError: ``RENDER_SDK_MODE`` or ``RENDER_SDK_SOCKET_PATH`` is missing or invalid.
        """
        if self._served:
            raise RuntimeError("this process has already registered or run its tasks; a worker serves once")
        self._served = True
        return serve(tasks)

    def serve_at_exit(self) -> None:
        """The ``auto_start`` exit hook: serve every app's tasks if Render started this process.

        Exits the process with a non-zero status when serving fails (an exit hook cannot return one).
        """
        if self._served or not (os.environ.get(MODE_VARIABLE) and os.environ.get(SOCKET_VARIABLE)):
            return
        if getattr(sys, "last_value", None) is not None:
            # The program died with an uncaught exception (already printed): its task list may be incomplete.
            print("render_sdk: not starting the worker because the program failed", file=sys.stderr)
            return
        try:
            status = self.serve_once(merge_tasks(self.live_apps()))
        except Exception:
            import traceback

            traceback.print_exc()
            status = 1
        if status != 0:
            exit_process(status)


def merge_tasks(apps: Iterable[Workflows]) -> dict[str, Task[Any, Any]]:
    """The tasks of ``apps`` by name; the two copies of a task from a module imported twice count as one.

    Raises:
        ValueError: Two different functions have the same task name.
    """
    return merge_task_lists(task for app in apps for task in app.tasks.values())


def merge_task_lists(tasks: Iterable[Task[Any, Any]]) -> dict[str, Task[Any, Any]]:
    """``tasks`` by name, one copy of each (see :func:`merge_tasks`).

    Raises:
        ValueError: Two different functions have the same task name.
    """
    merged: dict[str, Task[Any, Any]] = {}
    for task in tasks:
        existing = merged.setdefault(task.name, task)
        if existing is not task and existing.definition_site != task.definition_site:
            raise ValueError(
                f"two different tasks are named {task.name!r}: {existing.origin} and {task.origin}; "
                "rename one with @app.task(name=...)"
            )
    return merged


PROCESS = ProcessServing()
"""The process's one serving state."""


def exit_process(status: int) -> NoReturn:
    """Exit now with ``status``, from an exit hook or a forked child, after flushing logging and stdio.

    Python ignores ``SystemExit`` raised in an exit hook and exits 0, so the status needs ``os._exit``. That
    skips the exit hooks registered before ours; logging's is the one whose work (flushing handlers) matters.
    """
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os._exit(status)


def serve(tasks: Tasks) -> int:
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
    from render_sdk.workflows._run_mode import run

    return run(socket_path, tasks)
