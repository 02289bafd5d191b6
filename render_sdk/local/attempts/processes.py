"""Worker processes: start the worker command in its own process group, capture its output line by line, and
stop the whole group (SIGTERM, a grace period, then SIGKILL) so nothing it started is left behind.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from render_sdk.local.limits import OUTPUT_LINE_BYTES

__all__ = ["LineSink", "ProcStat", "WorkerProcess", "pid_running", "proc_stat", "stop_left_behind"]

GRACE_SECONDS = 2.0
_STDERR_TAIL = 20
_PROC = Path("/proc")

LineSink = Callable[[str, str], None]
"""Called with (stream, line) for every line the process prints; stream is "stdout" or "stderr"."""


class WorkerProcess:
    """One worker process, leader of its own process group.

    Either started here (:meth:`start`) or adopted from whoever started it (:meth:`adopt`: a prefork child,
    whose exit status comes from the zygote that forked it). Its output arrives through protocols, not
    stream readers: each pipe's bytes are cut into lines as they come, with no task per pipe.
    """

    def __init__(self, on_line: LineSink, exited: asyncio.Future[int | None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.pid = 0
        self._on_line = on_line
        self._exited: asyncio.Future[int | None] = exited if exited is not None else loop.create_future()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL)
        self._output = {name: _Lines(name, self._emit, loop.create_future()) for name in ("stdout", "stderr")}
        self._transports: list[asyncio.BaseTransport] = []

    @classmethod
    async def start(
        cls, command: Sequence[str], env: Mapping[str, str], cwd: Path | None, on_line: LineSink
    ) -> WorkerProcess:
        """Start ``command`` (no shell) in a new session, so signals can reach everything it starts.

        Raises:
            OSError: The command could not be started (not found, not executable).
        """
        process = cls(on_line)
        transport, _ = await asyncio.get_running_loop().subprocess_exec(
            lambda: _Spawned(process),
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        process.pid = transport.get_pid()
        process._transports.append(transport)
        return process

    @classmethod
    async def adopt(
        cls, pid: int, stdout_fd: int, stderr_fd: int, exited: asyncio.Future[int | None], on_line: LineSink
    ) -> WorkerProcess:
        """Supervise a process another process started, already the leader of its own process group.

        Args:
            pid: Its pid (and process group id).
            stdout_fd: The read end of the pipe that is its stdout; taken over (closed when done).
            stderr_fd: The same for its stderr.
            exited: Resolves to its exit status once it has exited; None if that cannot be known.
            on_line: Gets every line it prints.
        """
        process = cls(on_line, exited)
        process.pid = pid
        loop = asyncio.get_running_loop()
        for name, fd in (("stdout", stdout_fd), ("stderr", stderr_fd)):
            lines = process._output[name]
            transport, _ = await loop.connect_read_pipe(
                functools.partial(_Piped, lines), os.fdopen(fd, "rb", buffering=0)
            )
            process._transports.append(transport)
        return process

    async def wait_exit(self) -> int | None:
        """Wait for the leader process to exit (processes it started may still hold its output open).

        Returns its exit status (negative: killed by that signal), or None if it is unknown.
        """
        return await asyncio.shield(self._exited)

    async def stop(self, grace: float = GRACE_SECONDS) -> None:
        """Let the leader exit on its own for ``grace`` seconds, then stop the whole group.

        Used after a result, so a worker can finish flushing before it is asked to stop, and so helpers it
        started (a shell wrapper's children, worker pools) do not outlive it.
        """
        if not self._exited.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._exited), grace)
        await self.kill(grace)

    async def kill(self, grace: float = GRACE_SECONDS) -> None:
        """Stop the process group now: SIGTERM, up to ``grace`` seconds, then SIGKILL.

        Then reap the leader and read its output to the end.
        """
        await _terminate_group(self.pid, grace)
        await asyncio.shield(self._exited)
        # A process that left the group (setsid) may hold the pipes open forever; do not wait for it.
        ends = [lines.ended for lines in self._output.values() if not lines.ended.done()]
        if ends:
            await asyncio.wait(ends, timeout=grace)
        for transport in self._transports:
            transport.close()

    def _emit(self, name: str, line: str) -> None:
        if name == "stderr":
            self.stderr_tail.append(line)
        self._on_line(name, line)


class _Lines:
    """One output stream, cut into lines; one longer than OUTPUT_LINE_BYTES goes as several records."""

    def __init__(self, name: str, emit: LineSink, ended: asyncio.Future[None]) -> None:
        self._name = name
        self._emit = emit
        self._pending = bytearray()
        self.ended = ended
        """Resolves once the stream has ended (end of file, or the pipe was lost)."""

    def feed(self, data: bytes) -> None:
        pending = self._pending
        pending += data
        start = 0
        while (end := pending.find(b"\n", start)) != -1:
            self._line(pending[start:end])
            start = end + 1
        del pending[:start]
        while len(pending) > OUTPUT_LINE_BYTES:  # a line of exactly the limit may still end here
            cut = _utf8_boundary(pending, OUTPUT_LINE_BYTES)
            self._line(pending[:cut])
            del pending[:cut]

    def end(self) -> None:
        if self.ended.done():
            return
        if self._pending:
            self._line(self._pending)
            self._pending = bytearray()
        self.ended.set_result(None)

    def _line(self, raw: bytearray) -> None:
        self._emit(self._name, raw.decode("utf-8", errors="replace").rstrip("\r"))


class _Spawned(asyncio.SubprocessProtocol):
    """A process started here: its two pipes into lines, its exit status into the process's future."""

    def __init__(self, process: WorkerProcess) -> None:
        self._process = process
        self._output = {1: process._output["stdout"], 2: process._output["stderr"]}
        self._transport: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._transport = transport

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        self._output[fd].feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._output[fd].end()
        self._close_when_done()

    def process_exited(self) -> None:
        assert self._transport is not None
        exited = self._process._exited
        if not exited.done():
            exited.set_result(self._transport.get_returncode())
        self._close_when_done()

    def _close_when_done(self) -> None:
        # As asyncio's own subprocess protocol does: the transport is closed once nothing is left to read.
        done = all(lines.ended.done() for lines in self._output.values())
        if done and self._process._exited.done() and self._transport is not None:
            self._transport.close()


class _Piped(asyncio.Protocol):
    """One pipe of an adopted process, into lines."""

    def __init__(self, lines: _Lines) -> None:
        self._lines = lines

    def data_received(self, data: bytes) -> None:
        self._lines.feed(data)

    def eof_received(self) -> bool:
        self._lines.end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lines.end()


def _utf8_boundary(data: bytearray, limit: int) -> int:
    """The largest cut at or below ``limit`` that does not split a UTF-8 character (continuation bytes)."""
    cut = limit
    while cut > limit - 4 and cut > 0 and data[cut] & 0xC0 == 0x80:
        cut -= 1
    return cut if cut > limit - 4 else limit


async def stop_left_behind(pgid: int, start_time: int | None, grace: float = GRACE_SECONDS) -> bool:
    """Stop a process group an earlier server started and left running (it crashed); whether one was found.

    The group is the one recorded only if its leader is still the process that started at ``start_time``,
    or if the leader is gone but members remain (Linux reuses no pid that still names a process group).
    Without a start time, or without ``/proc``, nothing is stopped: a reused pid must never be signalled.
    """
    if start_time is None or pgid <= 1 or not _PROC.is_dir():
        return False
    leader = proc_stat(pgid)
    if leader is not None and leader.start_time != start_time:
        return False  # the pid now belongs to another process
    if leader is None and not await _group_alive(pgid):
        return False
    await _terminate_group(pgid, grace)
    deadline = time.monotonic() + grace
    while await _group_alive(pgid) and time.monotonic() < deadline:  # SIGKILL is not instant either
        await asyncio.sleep(0.05)
    return True


async def _terminate_group(pgid: int, grace: float) -> None:
    """SIGTERM the group, up to ``grace`` seconds for it to go, then SIGKILL what is left."""
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while await _group_alive(pgid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if await _group_alive(pgid):
        _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


async def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running (zombies waiting to be reaped do not count).

    Runs after every attempt, so the usual answer, "gone", costs one signal-0 system call. Only while the
    group still has members is ``/proc`` read, in a thread: they may all be zombies that nobody reaps soon
    (orphans, when PID 1 is this server in a container), and waiting for them would hold the slot in vain.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists; we just may not signal it
        pass
    if not _PROC.is_dir():
        return True
    return await asyncio.to_thread(_running_member, pgid)


def _running_member(pgid: int) -> bool:
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = proc_stat(int(entry.name))
        if stat is not None and stat.pgrp == pgid and stat.running:
            return True
    return False


@dataclass(frozen=True)
class ProcStat:
    """What ``/proc/<pid>/stat`` says about a process.

    Attributes:
        state: One letter: R, S, D, ... (Z: a zombie waiting to be reaped, X: dead).
        ppid: Its parent.
        pgrp: Its process group.
        start_time: When it started, in clock ticks since boot: with the pid, it names one process for good.
    """

    state: str
    ppid: int
    pgrp: int
    start_time: int

    @property
    def running(self) -> bool:
        """Whether it still runs (a zombie does not)."""
        return self.state not in ("Z", "X")


def proc_stat(pid: int) -> ProcStat | None:
    """Read ``/proc/<pid>/stat``; None when there is no such process (or no ``/proc``)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces and parentheses.
    fields = stat[stat.rfind(")") + 2 :].split()
    return ProcStat(state=fields[0], ppid=int(fields[1]), pgrp=int(fields[2]), start_time=int(fields[19]))


def pid_running(pid: int) -> bool:
    """Whether ``pid`` is running (a zombie waiting to be reaped does not count)."""
    if _PROC.is_dir():
        stat = proc_stat(pid)
        return stat is not None and stat.running
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
