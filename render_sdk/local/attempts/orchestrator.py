"""The orchestrator: turns pending runs into worker processes, within a concurrency limit.

It reacts to what the state machine announces (:meth:`render_sdk.local.engine.states.RunStates.listen`): a
queued run waits for a free slot, a scheduled retry gets a timer, an attempt that ended (reported by its
worker, or canceled) has its process stopped. Nothing calls it back. It owns the processes, the retry timers,
the timeouts and the queue; every status change it causes itself (a process that exited without a result, a
timeout, a stop) goes through the state machine too. One attempt is one process from the :class:`Launcher`,
with its own callback socket. ``max_concurrency`` slots (:mod:`~render_sdk.local.attempts.slots`) bound the
attempts running task code: a slot is held until the attempt's whole process group is gone, except while the
attempt is parked, waiting on an unfinished subtask.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render_sdk.local.attempts.callback_endpoint import AttemptEndpoint
from render_sdk.local.attempts.launcher import AttemptProcess, Launcher
from render_sdk.local.attempts.processes import proc_stat, stop_left_behind
from render_sdk.local.attempts.slots import AttemptSlot, Slots
from render_sdk.local.attempts.socket_server import SocketServer
from render_sdk.local.engine.clock import TimerHandle
from render_sdk.local.engine.records import RunRecord
from render_sdk.local.engine.states import (
    Announcement,
    AttemptEnded,
    RetryScheduled,
    RunEnded,
    RunQueued,
    RunStates,
)
from render_sdk.local.engine.store import Store

__all__ = ["RESTART_REASON", "SHUTDOWN_REASON", "Limits", "Orchestrator", "default_max_concurrency"]

RESTART_REASON = "local runtime restarted while this attempt was running"
SHUTDOWN_REASON = "local runtime stopped while this attempt was running"
WRITE_RETRY_SECONDS = 1.0
"""How often writes that failed (a full disk) are tried again."""


def default_max_concurrency() -> int:
    """Worker processes mostly wait on I/O or on their subtasks, so allow a few per core."""
    return max(8, 4 * (os.cpu_count() or 1))


@dataclass(frozen=True)
class Limits:
    """What the orchestrator may use.

    Attributes:
        max_concurrency: The most worker processes alive at once.
        timeout_seconds: For tests only: stop every attempt after this many seconds instead of its task's
            ``timeout_seconds`` (Render's 30 s minimum stays the rule for what tasks register).
    """

    max_concurrency: int
    timeout_seconds: float | None = None


@dataclass
class _Running:
    """An attempt in progress."""

    run_id: str
    attempt: int
    slot: AttemptSlot
    ended: asyncio.Future[str]
    """The attempt's final status, once the state machine has announced it."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    process: AttemptProcess | None = None
    final: RunRecord | None = None
    """The run as its end was announced, once it ended."""


class Orchestrator:
    """Schedules and runs attempts.

    Args:
        store: Where runs and logs live.
        states: The run state machine (its clock times retries and timeouts).
        launcher: Starts the process of each attempt.
        socket_dir: A private directory (0700) for the per-attempt sockets.
        limits: The concurrency limit (and, in tests, a timeout).
        echo: Prints a status line to the terminal.
        verbose: Also echo every line workers print.
    """

    def __init__(
        self,
        store: Store,
        states: RunStates,
        launcher: Launcher,
        socket_dir: Path,
        limits: Limits,
        echo: Callable[[str], None],
        verbose: bool = False,
    ) -> None:
        self.limits = limits
        self._store = store
        self._states = states
        self._clock = states.clock
        self._launcher = launcher
        self._socket_dir = socket_dir
        self._echo = echo
        self._verbose = verbose
        # Subtasks go first, so trees that were started finish before new roots take the slots.
        self._subtask_queue: collections.deque[str] = collections.deque()
        self._root_queue: collections.deque[str] = collections.deque()
        self._running: dict[str, _Running] = {}
        self._retry_timers: dict[str, TimerHandle] = {}
        self.slots = Slots(limits.max_concurrency, self._schedule_pump)
        self._attempt_tasks: set[asyncio.Task[None]] = set()
        self._socket_names = itertools.count()
        self._stopping = False
        self._pump_scheduled = False
        # Transitions the store could not write (disk full): tried again until they succeed.
        self._unwritten: list[Callable[[], object]] = []
        self._write_retry: TimerHandle | None = None
        self._outage = False
        states.listen(self._on_announcement)

    @property
    def attempts(self) -> int:
        """Attempts in progress (running task code or parked)."""
        return len(self._attempt_tasks)

    async def resume(self) -> None:
        """After startup: stop the processes a previous server left running, fail their attempts, and queue
        everything still pending (retries only once those processes are gone).
        """
        for left in self._store.running_attempts():
            if left.pid is not None and await stop_left_behind(left.pid, left.pid_start_time):
                self._echo(
                    f"stopped  process group {left.pid} that the last server left running "
                    f"({left.run_id}, attempt {left.attempt + 1})"
                )
        self._states.recover(RESTART_REASON)

    async def shutdown(self) -> None:
        """Stop every running attempt (recorded as failed, to be retried on the next start if allowed)."""
        self._stopping = True
        for timer in self._retry_timers.values():
            timer.cancel()
        self._retry_timers.clear()
        if self._write_retry is not None:  # what is still unwritten, the next start's recovery settles
            self._write_retry.cancel()
        for running in self._running.values():
            running.stopping.set()
        if self._attempt_tasks:
            await asyncio.wait(self._attempt_tasks)

    # ---- reactions to the state machine -----------------------------------------------------------------

    def _on_announcement(self, announcement: Announcement) -> None:
        if isinstance(announcement, RunQueued):
            run = announcement.run
            if announcement.created:
                parent = f"  (subtask of {run.parent_id})" if run.parent_id else ""
                self._echo(f"queued   {run.id}  {run.task_name}({_short(run.input_json)}){parent}")
            self._enqueue(run.id, run.is_subtask)
        elif isinstance(announcement, RetryScheduled):
            self._schedule_retry(announcement.run, announcement.retry.delay)
        elif isinstance(announcement, AttemptEnded):
            running = self._running.get(announcement.run_id)
            if running is not None and running.attempt == announcement.attempt and not running.ended.done():
                running.ended.set_result(announcement.status)
        elif isinstance(announcement, RunEnded):
            running = self._running.get(announcement.run.id)
            if running is not None:
                running.final = announcement.run
            if announcement.run.status == "canceled":
                self._canceled(announcement.run.id)

    def _canceled(self, run_id: str) -> None:
        timer = self._retry_timers.pop(run_id, None)
        if timer is not None:
            timer.cancel()
        self._echo(f"canceled {run_id}")

    # ---- scheduling ------------------------------------------------------------------------------------

    def _enqueue(self, run_id: str, subtask: bool) -> None:
        (self._subtask_queue if subtask else self._root_queue).append(run_id)
        self._schedule_pump()

    def _schedule_pump(self) -> None:
        # Start on the next loop turn, so the 202 for a new run shows it as created: pending, no attempts.
        if not self._pump_scheduled:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _retry_reason(self, run_id: str) -> str:
        attempts = self._store.attempts(run_id)
        if attempts and attempts[-1].error in (SHUTDOWN_REASON, RESTART_REASON):
            ended = (
                "by the last stop" if attempts[-1].error == SHUTDOWN_REASON else "when the last server ended"
            )
            return f"attempt {attempts[-1].attempt + 1} was cut off {ended}; retrying"
        return "retrying"

    def _schedule_retry(self, run: RunRecord, delay: float) -> None:
        if self._stopping:
            return
        self._echo(f"retry    {run.id}  {self._retry_reason(run.id)} in {delay:g} s")

        def fire() -> None:
            self._retry_timers.pop(run.id, None)
            self._enqueue(run.id, run.is_subtask)

        self._retry_timers[run.id] = self._clock.call_later(delay, fire)

    def _pump(self) -> None:
        self._pump_scheduled = False
        while not self._stopping and self._write_retry is None and (self._subtask_queue or self._root_queue):
            slot = self.slots.take_for_start()
            if slot is None:
                return
            queue = self._subtask_queue or self._root_queue
            run_id = queue.popleft()
            try:
                started = self._states.start_attempt(run_id)
            except sqlite3.Error as exc:  # it stays first in line until the store takes writes again
                queue.appendleft(run_id)
                self._write_failed(exc)
                slot.end()
                return
            if started is None:  # canceled while queued
                slot.end()
                continue
            run, attempt = started
            task = asyncio.ensure_future(self._run_attempt(run, attempt, slot))
            self._attempt_tasks.add(task)
            task.add_done_callback(self._attempt_tasks.discard)

    async def _run_attempt(self, run: RunRecord, attempt: int, slot: AttemptSlot) -> None:
        running = _Running(run.id, attempt, slot, asyncio.get_running_loop().create_future())
        self._running[run.id] = running
        try:
            await self._supervise(run, attempt, running)
        except Exception as exc:  # a bug here must not leave the run running forever
            self._fail(run.id, attempt, f"local runtime error: {type(exc).__name__}: {exc}")
            raise
        finally:
            self._running.pop(run.id, None)
            slot.end()

    async def _supervise(self, run: RunRecord, attempt: int, running: _Running) -> None:
        endpoint = AttemptEndpoint(run, attempt, self._store, self._states, running.slot)
        socket_path = self._socket_dir / f"{next(self._socket_names)}.sock"
        server = SocketServer(
            socket_path,
            endpoint,
            notice=lambda line: self._echo(f"{run.id}: {line}"),
            on_refused=endpoint.refused,
        )
        await server.start()
        label = f"{run.task_name}({_short(run.input_json)})"
        self._echo(f"running  {run.id}  {label}" + (f"  (attempt {attempt + 1})" if attempt else ""))
        try:
            try:
                process = await self._launcher.launch(
                    run, attempt, socket_path, lambda stream, line: self._log(run.id, attempt, stream, line)
                )
            except OSError as exc:
                self._fail(
                    run.id,
                    attempt,
                    f"could not start the worker command `{self._launcher.describe()}`: {exc}",
                )
                return
            running.process = process
            stat = proc_stat(process.pid)
            start_time = stat.start_time if stat is not None else None
            try:
                self._store.record_attempt_process(run.id, attempt, process.pid, start_time)
            except sqlite3.Error as exc:  # only a later restart needs it: run the attempt anyway
                self._write_failed(exc)
            await self._watch(run, attempt, running, process)
        finally:
            await server.close()
            self._report(running)

    async def _watch(self, run: RunRecord, attempt: int, running: _Running, process: AttemptProcess) -> None:
        """Wait for the attempt to end, its process to exit, a stop or the timeout; then stop the process."""
        loop = asyncio.get_running_loop()
        exited = asyncio.ensure_future(process.wait_exit())
        stopping = asyncio.ensure_future(running.stopping.wait())
        timed_out: asyncio.Future[None] = loop.create_future()
        timeout = self.limits.timeout_seconds or run.timeout_seconds
        timer = None
        if timeout is not None:
            timer = self._clock.call_later(timeout, lambda: _resolve(timed_out))
        waiters: set[asyncio.Future[Any]] = {running.ended, exited, stopping, timed_out}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            timed_out.cancel()
            if timer is not None:
                timer.cancel()
        if running.ended.done():
            if running.ended.result() == "canceled":
                await process.kill()
            else:
                await process.stop()
        elif running.stopping.is_set():
            await process.kill()
            self._fail(run.id, attempt, SHUTDOWN_REASON)
        elif exited.done():
            await process.kill()  # stops anything it left behind and reads its output to the end
            self._fail(run.id, attempt, _exit_message(exited.result(), list(process.stderr_tail)))
        else:
            await process.kill()
            self._fail(run.id, attempt, _timeout_message(timeout, run.timeout_seconds))

    def _fail(self, run_id: str, attempt: int, error: str) -> None:
        self._write(lambda: self._states.fail_attempt(run_id, attempt, error))

    def _write(self, transition: Callable[[], object]) -> None:
        """Make a transition now, or, if the store cannot take it, as soon as it can (in order)."""
        if self._write_retry is None:
            try:
                transition()
                return
            except sqlite3.Error as exc:
                self._write_failed(exc)
        self._unwritten.append(transition)

    def _write_failed(self, error: sqlite3.Error) -> None:
        """Say what failed (once per outage) and try the failed writes, then the queue, again later."""
        if not self._outage:
            self._outage = True
            self._echo(
                f"could not write to the database: {type(error).__name__}: {error}; "
                f"trying again every {WRITE_RETRY_SECONDS:g} s"
            )
        if self._write_retry is None and not self._stopping:
            self._write_retry = self._clock.call_later(WRITE_RETRY_SECONDS, self._retry_writes)

    def _retry_writes(self) -> None:
        self._write_retry = None
        while self._unwritten:
            try:
                self._unwritten[0]()
            except sqlite3.Error as exc:
                self._write_failed(exc)
                return
            self._unwritten.pop(0)
        self._pump()
        if self._write_retry is None and self._outage:
            self._outage = False
            self._echo("the database takes writes again")

    def _log(self, run_id: str, attempt: int, stream: str, line: str) -> None:
        try:
            self._store.add_log(run_id, attempt, stream, self._clock.now(), line)
        except sqlite3.Error as exc:  # a line that cannot be stored is lost; the attempt goes on
            self._write_failed(exc)
        if self._verbose:
            self._echo(f"  {run_id} {stream}: {line}")

    def _report(self, running: _Running) -> None:
        run = running.final
        if run is None or run.status == "canceled":
            return
        if run.status == "completed":
            self._echo(f"completed {run.id}  {run.task_name} -> {_short(run.results_json or 'null')}")
        else:
            first_line = (run.error or "").splitlines()[0] if run.error else ""
            self._echo(f"failed   {run.id}  {run.task_name}: {first_line}")


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _timeout_message(timeout: float | None, task_timeout: int | None) -> str:
    if timeout == task_timeout:
        return f"timed out after {timeout:g} s (the task's timeout_seconds)"
    return f"timed out after {timeout:g} s (the runtime's test timeout; the task's is {task_timeout} s)"


def _exit_message(code: int | None, stderr: list[str]) -> str:
    if code is None:
        how = "exited (with an unknown status: the prefork zygote that forked it is gone)"
    else:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
    message = f"the worker process {how} before reporting a result"
    if stderr:
        message += "; its stderr ends with:\n" + "\n".join(stderr)
    return message


def _short(text: str, limit: int = 80) -> str:
    """Stored JSON text (compact already) for a status line, cut to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
