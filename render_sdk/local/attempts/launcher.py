"""How the orchestrator gets a process for an attempt: the seam the engine tests replace with a fake.

:class:`WorkerLauncher` forks the attempt from the prefork zygote when there is one, and otherwise runs the
worker command; either way the attempt gets its own callback socket and a process group of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from render_sdk.local.attempts.prefork import Prefork
from render_sdk.local.attempts.processes import LineSink, WorkerProcess
from render_sdk.local.attempts.worker_command import WorkerCommand
from render_sdk.local.engine.records import RunRecord

__all__ = ["AttemptProcess", "Launcher", "WorkerLauncher"]


class AttemptProcess(Protocol):
    """The process (group) running one attempt, as the orchestrator supervises it."""

    @property
    def pid(self) -> int:
        """Its leader's pid, which is also its process group's id."""

    @property
    def stderr_tail(self) -> Sequence[str]:
        """The last lines it wrote to stderr."""

    async def wait_exit(self) -> int | None:
        """Wait for its leader to exit; its status (negative: killed by that signal), None if unknown."""

    async def stop(self) -> None:
        """Let it exit on its own for a grace period, then stop its whole group."""

    async def kill(self) -> None:
        """Stop its whole group now."""


class Launcher(Protocol):
    """Starts the process of an attempt."""

    def describe(self) -> str:
        """What it starts, for error messages (the worker command)."""

    async def launch(
        self, run: RunRecord, attempt: int, socket_path: Path, on_line: LineSink
    ) -> AttemptProcess:
        """Start attempt ``attempt`` of ``run``, talking to the callback API on ``socket_path``.

        Raises:
            OSError: It could not be started.
        """


class WorkerLauncher:
    """Starts attempts as processes of the worker command, forked from ``prefork``'s zygote when possible."""

    def __init__(self, command: WorkerCommand, prefork: Prefork | None = None) -> None:
        self.command = command
        self._prefork = prefork

    def describe(self) -> str:
        """The worker command."""
        return self.command.describe()

    async def launch(
        self, run: RunRecord, attempt: int, socket_path: Path, on_line: LineSink
    ) -> AttemptProcess:
        """Fork the attempt from the zygote, or start the worker command cold."""
        if self._prefork is not None:
            forked = await self._prefork.fork(socket_path, on_line)
            if forked is not None:
                return forked
        return await WorkerProcess.start(
            self.command.argv, self.command.environment("run", socket_path), self.command.cwd, on_line
        )
