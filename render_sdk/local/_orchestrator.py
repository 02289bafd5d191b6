"""The orchestrator: turns pending runs into worker processes, within a concurrency limit.

It owns the processes, the retry timers, the timeouts and the queue of runs waiting for a free slot; every
status change it causes goes through :class:`render_sdk.local._state.RunStates`. One attempt is one process of
the worker command, with its own callback socket. A slot is held until the attempt's whole process group is
gone, so ``max_concurrency`` bounds the number of worker processes, not just the number of running runs.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render_sdk_callback_api.models import RunSubtaskRequest

from render_sdk._protocol.wire import WireError, decode_payload
from render_sdk.local._callback_api import AttemptEndpoint
from render_sdk.local._prefork import Prefork
from render_sdk.local._process import LineSink, WorkerProcess
from render_sdk.local._socket_server import HttpError, SocketServer
from render_sdk.local._state import TERMINAL_STATUSES, RunStates
from render_sdk.local._store import RunRecord, Store, TaskRecord, now
from render_sdk.local._worker_command import WorkerCommand

__all__ = ["Orchestrator"]

RESTART_REASON = "local runtime restarted while this attempt was running"
SHUTDOWN_REASON = "local runtime stopped while this attempt was running"


@dataclass
class _Running:
    """An attempt in progress."""

    run_id: str
    attempt: int
    canceled: asyncio.Event = field(default_factory=asyncio.Event)
    process: WorkerProcess | None = None


class Orchestrator:
    """Schedules and runs attempts.

    Args:
        store: Where runs and logs live.
        states: The run state machine.
        command: The worker command.
        socket_dir: A private directory (0700) for the per-attempt sockets.
        max_concurrency: The most worker processes alive at once.
        echo: Prints a status line to the terminal.
        verbose: Also echo every line workers print.
        prefork: Forks attempts from a pre-imported worker when it can (None: always a cold start).
    """

    def __init__(
        self,
        store: Store,
        states: RunStates,
        command: WorkerCommand,
        socket_dir: Path,
        max_concurrency: int,
        echo: Callable[[str], None],
        verbose: bool = False,
        prefork: Prefork | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.command = command
        self.max_concurrency = max_concurrency
        self._store = store
        self._states = states
        self._socket_dir = socket_dir
        self._echo = echo
        self._verbose = verbose
        self._prefork = prefork
        # Subtasks go first: their parents hold slots while they wait, so new roots first could starve them.
        self._subtask_queue: collections.deque[str] = collections.deque()
        self._root_queue: collections.deque[str] = collections.deque()
        self._running: dict[str, _Running] = {}
        self._retry_timers: dict[str, asyncio.TimerHandle] = {}
        self._slots_in_use = 0
        self._attempt_tasks: set[asyncio.Task[None]] = set()
        self._socket_names = itertools.count()
        self._stopping = False
        self._pump_scheduled = False
        self.peak_processes = 0

    @property
    def processes(self) -> int:
        """Worker processes (attempts) alive now."""
        return self._slots_in_use

    def resume(self) -> None:
        """After startup: fail attempts a previous server left running, and queue everything still pending."""
        ready, retries = self._states.recover(RESTART_REASON)
        for run_id in ready:
            self._enqueue(run_id)
        for retry in retries:
            self._schedule_retry(retry.run_id, retry.delay)

    def create_run(self, task: TaskRecord, input_value: Any) -> RunRecord:
        """Create a root run and queue it."""
        run, _ = self._states.create_run(task, input_value)
        self._echo(f"queued   {run.id}  {task.name}{_args(input_value)}")
        self._enqueue(run.id)
        return run

    def start_subtask(self, parent_id: str, parent_attempt: int, request: RunSubtaskRequest) -> str:
        """Create (or find, for a retried request) a subtask run of ``parent_id`` and queue it.

        Raises:
            HttpError: 404 for an unknown task or parent, 409 if the parent is not running, 400 for bad input.
        """
        parent = self._store.get_run(parent_id)
        if parent is None:
            raise HttpError(404, f"parent task run {parent_id} not found")
        if parent.status == "canceled":
            raise HttpError(409, f"parent task run {parent_id} was canceled")
        if parent.status != "running":
            raise HttpError(409, f"parent task run {parent_id} is {parent.status}, not running")
        task = self._store.get_task_by_name(request.task_name)
        if task is None or not task.active:
            known = ", ".join(t.name for t in self._store.list_tasks(active_only=True)) or "none"
            raise HttpError(404, f"task {request.task_name!r} not found (registered tasks: {known})")
        try:
            input_value = decode_payload(request.input, "input")
        except WireError as exc:
            raise HttpError(400, str(exc)) from exc
        if input_value is None:
            input_value = []
        if not isinstance(input_value, (list, dict)):
            raise HttpError(400, f"input must be a JSON array or object, got {type(input_value).__name__}")
        idempotency = None
        if request.idempotency_key:
            idempotency = (request.idempotency_key, request.created_at or "")
        run, created = self._states.create_run(task, input_value, parent, parent_attempt, idempotency)
        if created:
            self._echo(f"queued   {run.id}  {task.name}{_args(input_value)}  (subtask of {parent_id})")
            self._enqueue(run.id, subtask=True)
        return run.id

    def cancel(self, run_id: str) -> list[str]:
        """Cancel a run and its unfinished descendants, stopping their processes and pending retries."""
        canceled = self._states.cancel_tree(run_id)
        for canceled_id in canceled:
            timer = self._retry_timers.pop(canceled_id, None)
            if timer is not None:
                timer.cancel()
            running = self._running.get(canceled_id)
            if running is not None:
                running.canceled.set()
            self._echo(f"canceled {canceled_id}")
        return canceled

    async def shutdown(self) -> None:
        """Stop every running attempt (recorded as failed, to be retried on the next start if allowed)."""
        self._stopping = True
        for timer in self._retry_timers.values():
            timer.cancel()
        self._retry_timers.clear()
        for running in self._running.values():
            running.canceled.set()
        if self._attempt_tasks:
            await asyncio.wait(self._attempt_tasks)

    # ---- scheduling ------------------------------------------------------------------------------------

    def _enqueue(self, run_id: str, subtask: bool = False) -> None:
        (self._subtask_queue if subtask else self._root_queue).append(run_id)
        # Start on the next loop turn, so the 202 for a new run shows it as created: pending, no attempts.
        if not self._pump_scheduled:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _schedule_retry(self, run_id: str, delay: float) -> None:
        if self._stopping:
            return
        run = self._store.get_run(run_id)
        self._echo(f"retry    {run_id}  in {delay:g} s")
        subtask = run is not None and run.parent_id is not None

        def fire() -> None:
            self._retry_timers.pop(run_id, None)
            self._enqueue(run_id, subtask)

        self._retry_timers[run_id] = asyncio.get_running_loop().call_later(delay, fire)

    def _pump(self) -> None:
        self._pump_scheduled = False
        while not self._stopping and self._slots_in_use < self.max_concurrency:
            queue = self._subtask_queue or self._root_queue
            if not queue:
                return
            run_id = queue.popleft()
            started = self._states.start_attempt(run_id)
            if started is None:  # canceled while queued
                continue
            run, attempt = started
            self._slots_in_use += 1
            self.peak_processes = max(self.peak_processes, self._slots_in_use)
            task = asyncio.ensure_future(self._run_attempt(run, attempt))
            self._attempt_tasks.add(task)
            task.add_done_callback(self._attempt_tasks.discard)

    async def _run_attempt(self, run: RunRecord, attempt: int) -> None:
        running = _Running(run.id, attempt)
        self._running[run.id] = running
        try:
            await self._supervise(run, attempt, running)
        except Exception as exc:  # a bug here must not leave the run running forever
            self._fail(run.id, attempt, f"local runtime error: {type(exc).__name__}: {exc}")
            raise
        finally:
            self._running.pop(run.id, None)
            self._slots_in_use -= 1
            self._pump()

    async def _supervise(self, run: RunRecord, attempt: int, running: _Running) -> None:
        endpoint = AttemptEndpoint(run.id, attempt, self._store, self._states, self, self._schedule_retry)
        socket_path = self._socket_dir / f"{next(self._socket_names)}.sock"
        server = SocketServer(socket_path, endpoint)
        await server.start()
        label = f"{run.task_name}{_args(run.input)}"
        self._echo(f"running  {run.id}  {label}" + (f"  (attempt {attempt + 1})" if attempt else ""))
        try:
            try:
                process = await self._start_process(
                    socket_path, lambda stream, line: self._log(run.id, attempt, stream, line)
                )
            except OSError as exc:
                self._fail(
                    run.id, attempt, f"could not start the worker command `{self.command.describe()}`: {exc}"
                )
                return
            running.process = process
            exited = asyncio.ensure_future(process.wait_exit())
            canceled = asyncio.ensure_future(running.canceled.wait())
            waiters: set[asyncio.Future[Any]] = {endpoint.outcome, exited, canceled}
            try:
                await asyncio.wait(waiters, timeout=run.timeout_seconds, return_when=asyncio.FIRST_COMPLETED)
            finally:
                canceled.cancel()
            if endpoint.outcome.done():
                await process.stop()
            elif running.canceled.is_set():
                await process.kill()
                if self._stopping:
                    self._fail(run.id, attempt, SHUTDOWN_REASON)
            elif exited.done():
                await process.kill()  # stops anything it left behind and reads its output to the end
                self._fail(run.id, attempt, _exit_message(exited.result(), list(process.stderr_tail)))
            else:
                await process.kill()
                self._fail(
                    run.id, attempt, f"timed out after {run.timeout_seconds} s (the task's timeout_seconds)"
                )
        finally:
            await server.close()
            self._report(run.id)

    async def _start_process(self, socket_path: Path, on_line: LineSink) -> WorkerProcess:
        if self._prefork is not None:
            forked = await self._prefork.fork(socket_path, on_line)
            if forked is not None:
                return forked
        return await WorkerProcess.start(
            self.command.argv, self.command.environment("run", socket_path), self.command.cwd, on_line
        )

    def _fail(self, run_id: str, attempt: int, error: str) -> None:
        retry = self._states.fail_attempt(run_id, attempt, error)
        if retry is not None:
            self._schedule_retry(retry.run_id, retry.delay)

    def _log(self, run_id: str, attempt: int, stream: str, line: str) -> None:
        self._store.add_log(run_id, attempt, stream, now(), line)
        if self._verbose:
            self._echo(f"  {run_id} {stream}: {line}")

    def _report(self, run_id: str) -> None:
        run = self._store.get_run(run_id)
        if run is None or run.status not in TERMINAL_STATUSES or run.status == "canceled":
            return
        if run.status == "completed":
            self._echo(f"completed {run.id}  {run.task_name} -> {_short(run.results)}")
        else:
            first_line = (run.error or "").splitlines()[0] if run.error else ""
            self._echo(f"failed   {run.id}  {run.task_name}: {first_line}")


def _exit_message(code: int | None, stderr: list[str]) -> str:
    if code is None:
        how = "exited (with an unknown status: the prefork zygote that forked it is gone)"
    else:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
    message = f"the worker process {how} before reporting a result"
    if stderr:
        message += "; its stderr ends with:\n" + "\n".join(stderr)
    return message


def _args(value: Any) -> str:
    return f"({_short(value)})"


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."
