"""What the engine tests put around the engine: a clock that moves when told, processes that do as told.

The engine itself is real: a SQLite store (in memory, or a file for restarts), the state machine, the
orchestrator with its queues, slots, timers and timeouts, and a real callback socket per attempt. Only time
and the worker processes are stand-ins, so a test of a 30 s timeout or a 4 s retry wait takes milliseconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from render_sdk._protocol.wire import decode_payload, encode_payload
from render_sdk.local.attempts.orchestrator import Limits, Orchestrator
from render_sdk.local.attempts.processes import LineSink
from render_sdk.local.engine.records import RetryPolicy, RunRecord, TaskRecord, TaskSpec
from render_sdk.local.engine.states import Announcement, RunStates
from render_sdk.local.engine.store import Store

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


class FakeTimer:
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.canceled = False

    def cancel(self) -> None:
        self.canceled = True


class FakeClock:
    """Wall time and timers that move only with :meth:`advance`."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        self._timers: list[tuple[float, int, FakeTimer]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return START + timedelta(seconds=self.elapsed)

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(callback)
        heapq.heappush(self._timers, (self.elapsed + delay, next(self._order), timer))
        return timer

    def pending(self) -> list[float]:
        """When the live timers are due, in seconds from now."""
        return sorted(due - self.elapsed for due, _, timer in self._timers if not timer.canceled)

    async def advance(self, seconds: float) -> None:
        """Move time forward, firing every timer that comes due (in order), and let the loop react."""
        target = self.elapsed + seconds
        while self._timers and self._timers[0][0] <= target + 1e-9:
            due, _, timer = heapq.heappop(self._timers)
            self.elapsed = max(self.elapsed, due)
            if not timer.canceled:
                timer.callback()
                await settle()
        self.elapsed = target
        await settle()


async def settle(turns: int = 50) -> None:
    """Let the event loop run what is ready (call_soon callbacks, woken tasks) a number of turns."""
    for _ in range(turns):
        await asyncio.sleep(0)


_FAKE_PIDS = itertools.count(1 << 22)  # above Linux's largest pid: no real process has one of these


@dataclass
class FakeProcess:
    """An attempt's process: it exits when the test says so (or when stopped or killed)."""

    run: RunRecord
    attempt: int
    pid: int = field(default_factory=lambda: next(_FAKE_PIDS))
    exit_status: asyncio.Future[int | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    stderr_tail: list[str] = field(default_factory=list)
    how_stopped: str | None = None
    scripted: bool = False

    async def wait_exit(self) -> int | None:
        return await asyncio.shield(self.exit_status)

    async def stop(self) -> None:
        if self.scripted:  # as a real worker does, it reads the answer to its report and exits
            await asyncio.wait({self.exit_status}, timeout=2)
        self._end("stopped", 0)

    async def kill(self) -> None:
        self._end("killed", -9)

    def exit(self, status: int) -> None:
        """The process exits by itself (without reporting, unless the test reported first)."""
        self._end(None, status)

    def _end(self, how: str | None, status: int) -> None:
        if not self.exit_status.done():
            self.how_stopped = how
            self.exit_status.set_result(status)


@dataclass
class ScriptedWorker:
    """What a scripted fake process can do: speak the callback API on its attempt's real socket."""

    run: RunRecord
    socket_path: Path

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One HTTP/1.1 request on the attempt's socket; the status and the JSON body."""
        reader, writer = await asyncio.open_unix_connection(str(self.socket_path))
        payload = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
        )
        try:
            writer.write(head.encode() + payload)
            raw = await reader.read()
        finally:
            writer.close()
        status_line, _, rest = raw.partition(b"\r\n")
        _, _, content = rest.partition(b"\r\n\r\n")
        return int(status_line.split()[1]), json.loads(content) if content else None

    async def start_subtask(self, task_name: str, input_value: Any) -> str:
        status, body = await self.call(
            "POST", "/run-subtask", {"task_name": task_name, "input": encode_payload(input_value)}
        )
        assert status == 200, body
        return str(body["task_run_id"])

    async def result_of(self, task_run_id: str) -> Any:
        """Poll ``/get-subtask-result`` as a worker does, until the subtask is final; its first result."""
        while True:
            status, body = await self.call("POST", "/get-subtask-result", {"task_run_id": task_run_id})
            assert status == 200, body
            if not body["still_running"]:
                assert "complete" in body, body
                return decode_payload(body["complete"]["output"])[0]
            await asyncio.sleep(0.01)

    async def complete(self, result: Any) -> None:
        status, body = await self.call(
            "POST", "/callback", {"complete": {"output": encode_payload([result])}}
        )
        assert status == 200, body


Script = Callable[[ScriptedWorker], Awaitable[None]]


class FakeLauncher:
    """Starts :class:`FakeProcess` es and remembers them, in launch order.

    A task with a script in ``scripts`` runs it (talking to the callback socket) and then exits 0; the
    others do nothing until the test acts for them.
    """

    def __init__(self, scripts: dict[str, Script] | None = None) -> None:
        self.launched: list[FakeProcess] = []
        self.scripts = scripts or {}
        self._tasks: set[asyncio.Task[None]] = set()

    def describe(self) -> str:
        return "fake worker"

    async def launch(self, run: RunRecord, attempt: int, socket_path: Path, on_line: LineSink) -> FakeProcess:
        assert socket_path.exists()  # the attempt's callback socket listens before its process starts
        script = self.scripts.get(run.task_name)
        process = FakeProcess(run, attempt, scripted=script is not None)
        self.launched.append(process)
        if script is not None:

            async def play() -> None:
                await script(ScriptedWorker(run, socket_path))
                process.exit(0)

            task = asyncio.ensure_future(play())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            process.exit_status.add_done_callback(lambda _: task.cancel())
        return process

    def running(self) -> list[FakeProcess]:
        return [p for p in self.launched if not p.exit_status.done()]

    def names(self) -> list[str]:
        """The task names launched, in order, with their input: ``square[3]``."""
        return [f"{p.run.task_name}{p.run.input_json}" for p in self.launched]


@dataclass
class Engine:
    """A store, the state machine and an orchestrator, wired as the runtime wires them."""

    store: Store
    states: RunStates
    orchestrator: Orchestrator
    clock: FakeClock
    launcher: FakeLauncher
    announcements: list[Announcement]
    echoed: list[str]

    def task(self, name: str) -> TaskRecord:
        task = self.store.get_task_by_name(name)
        assert task is not None
        return task

    def run(self, run_id: str) -> RunRecord:
        run = self.store.get_run(run_id)
        assert run is not None
        return run

    async def quiet(self) -> None:
        """Wait until no attempt is in progress (their processes stopped, their slots given back)."""
        while self.orchestrator.attempts:
            await asyncio.sleep(0.001)

    def process_of(self, run_id: str) -> FakeProcess:
        (process,) = [p for p in self.launcher.running() if p.run.id == run_id]
        return process

    async def complete(self, run_id: str, results: list[Any]) -> None:
        """The worker of ``run_id``'s running attempt reports success."""
        process = self.process_of(run_id)
        assert self.states.complete_attempt(run_id, process.attempt, results)
        await settle()

    async def fail(self, run_id: str, error: str = "ValueError: on purpose") -> None:
        """The worker of ``run_id``'s running attempt reports an error."""
        process = self.process_of(run_id)
        self.states.fail_attempt(run_id, process.attempt, error)
        await settle()


def register(store: Store, *specs: TaskSpec) -> None:
    for spec in specs:
        store.upsert_task(
            TaskRecord(
                seq=0,
                id=f"tsk-{spec.name:0>20}",
                name=spec.name,
                workflow_id="wfl-test",
                workflow_version_id="wfv-test",
                spec=spec,
                active=True,
                created_at=START,
            )
        )


DEFAULT_TASKS = (
    TaskSpec("square"),
    TaskSpec("parent"),
    TaskSpec("flaky", retry=RetryPolicy(max_retries=3, wait_duration_ms=1000, factor=2.0)),
    TaskSpec("slow", timeout_seconds=30),
)


def make_engine(
    socket_dir: Path,
    store: Store | None = None,
    max_concurrency: int = 4,
    scripts: dict[str, Script] | None = None,
    **limits: Any,
) -> Engine:
    store = store if store is not None else Store(None)
    if store.get_task_by_name("square") is None:
        register(store, *DEFAULT_TASKS)
    clock = FakeClock()
    states = RunStates(store, clock=clock)
    announcements: list[Announcement] = []
    states.listen(announcements.append)
    launcher = FakeLauncher(scripts)
    echoed: list[str] = []
    orchestrator = Orchestrator(
        store, states, launcher, socket_dir, Limits(max_concurrency, **limits), echoed.append
    )
    return Engine(store, states, orchestrator, clock, launcher, announcements, echoed)


def drive(
    socket_dir: Path,
    body: Callable[[Engine], Any],
    store: Store | None = None,
    max_concurrency: int = 4,
    scripts: dict[str, Script] | None = None,
    **limits: Any,
) -> None:
    """Run ``await body(engine)`` on a fresh event loop (for 20 s at most), then stop what it left running."""

    async def main() -> None:
        engine = make_engine(socket_dir, store, max_concurrency, scripts, **limits)
        try:
            await asyncio.wait_for(body(engine), 20)
        finally:
            await engine.orchestrator.shutdown()

    asyncio.run(main())
