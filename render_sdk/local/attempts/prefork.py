"""Warm starts (``render-workflows dev --prefork``): fork each attempt from a pre-imported copy of the worker.

A cold start runs the worker command once per attempt, so every attempt pays for starting Python and
importing the program. With prefork the runtime starts the *zygote* (:mod:`render_sdk.workflows._zygote`)
once: the same interpreter, interpreter options, cwd and environment as a cold start, minus the per-attempt
``RENDER_SDK_MODE`` and ``RENDER_SDK_SOCKET_PATH``; it imports the program as ``__main__`` and then forks
one child per attempt. The contract of a cold start is kept:

* each attempt is its own process, leader of its own process group and session, with its own callback
  socket, the attempt's two variables in its environment, stdin on ``/dev/null``, and stdout/stderr on pipes
  the runtime created (passed with SCM_RIGHTS), so its output is captured line by line into the attempt's
  log;
* the runtime supervises it with the same :class:`~render_sdk.local.attempts.processes.WorkerProcess` logic
  (signals to its process group, SIGTERM then SIGKILL), so timeouts, cancellation, "exited before reporting a
  result" and the ``max_concurrency`` slots behave as for cold starts. The runtime is not its parent: the
  zygote reports each child's pid when it forks it and its exit status when it reaps it;
* registration stays a cold start (once per registration), and the zygote is restarted after every
  registration (at startup and when a source file changes) so attempts run the current code, and again when
  it dies.

What differs, by nature: code run at import sees neither per-attempt variable and runs once, in the zygote
(its output goes to the runtime's terminal with ``--verbose``, not into each attempt's log); children share
the zygote's string-hash seed; ``atexit`` hooks registered at import run in the zygote, not in each child.

Prefork is used only when the worker command is recognisably Python: ``python[3[.x]] [options] SCRIPT.py
[args]`` or ``python [options] -m MODULE [args]`` (``render-workflows dev path/to/main.py`` is the first
form). Otherwise, or when the zygote refuses (the import failed, the process has threads or open sockets
after import, no ``auto_start`` app; see the zygote's docstring), every attempt is a cold start and one line
says why: in the banner at startup, echoed once later.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import os
import re
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from render_sdk._protocol.prefork import FDS_PER_FORK, LineReader, RuntimeMessage, ZygoteMessage, encode
from render_sdk._protocol.worker_env import attempt_variables
from render_sdk.local.attempts.processes import GRACE_SECONDS, LineSink, WorkerProcess, pid_running
from render_sdk.local.attempts.worker_command import WorkerCommand

__all__ = [
    "NotPreforkable",
    "Prefork",
    "PythonCommand",
    "ZygoteConnection",
    "ZygoteError",
    "parse_python_command",
]

ZYGOTE_MODULE = "render_sdk.workflows._zygote"
READY_TIMEOUT = 60.0
_POLL_SECONDS = 0.05
_STDERR_LINES = 5
_INTERPRETER = re.compile(r"python(\d+(\.\d+)?)?")
# Interpreter options that only set flags for the whole process, so the zygote can be given them as they are.
_FLAG_OPTIONS = re.compile(r"-[bBdEIOPqsSuv]+")
_VALUE_OPTIONS = ("-X", "-W")


@dataclass(frozen=True)
class PythonCommand:
    """A worker command that runs a Python program, split the way the interpreter reads it.

    Attributes:
        interpreter: The interpreter, as the command names it.
        options: Interpreter options before the program.
        program: ``(SCRIPT, *args)`` or ``("-m", MODULE, *args)``.
    """

    interpreter: str
    options: tuple[str, ...]
    program: tuple[str, ...]


class NotPreforkable(Exception):
    """The worker command is not one prefork can start; the message says why."""


def parse_python_command(argv: Sequence[str], cwd: Path) -> PythonCommand:
    """Recognise ``python [options] SCRIPT.py [args]`` and ``python [options] -m MODULE [args]``.

    Raises:
        NotPreforkable: Anything else.
    """
    if not argv:
        raise NotPreforkable("no worker command")
    interpreter = argv[0]
    if not (_INTERPRETER.fullmatch(os.path.basename(interpreter)) or _same_file(interpreter, sys.executable)):
        raise NotPreforkable(f"`{interpreter}` is not a Python interpreter (python, python3, python3.x)")
    options: list[str] = []
    index = 1
    while index < len(argv):
        word = argv[index]
        if word == "-m":
            if index + 1 == len(argv):
                raise NotPreforkable("`-m` without a module name")
            return PythonCommand(interpreter, tuple(options), tuple(argv[index:]))
        if word in _VALUE_OPTIONS and index + 1 < len(argv):
            options += argv[index : index + 2]
            index += 2
        elif _FLAG_OPTIONS.fullmatch(word) or (word[:2] in _VALUE_OPTIONS and len(word) > 2):
            options.append(word)
            index += 1
        elif word.startswith("-"):
            raise NotPreforkable(f"the interpreter option `{word}` is not supported with prefork")
        elif not word.endswith(".py") or not (cwd / word).is_file():
            raise NotPreforkable(f"`{word}` is not a Python source file (a .py file)")
        else:
            return PythonCommand(interpreter, tuple(options), tuple(argv[index:]))
    raise NotPreforkable("the command names no script or module")


def _same_file(first: str, second: str) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


class ZygoteError(Exception):
    """The zygote could not fork this attempt (it is gone, or fork failed)."""


@dataclass
class _Child:
    pid: asyncio.Future[int]
    exited: asyncio.Future[int | None]


class ZygoteConnection:
    """The runtime's side of one zygote: its process and its control connection."""

    def __init__(self, process: WorkerProcess, connection: socket.socket) -> None:
        self.process = process
        self.connection = connection
        self.ready: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        """Resolves to None when the zygote is ready, or to the reason it refused."""
        self.gone = asyncio.Event()
        self._children: dict[int, _Child] = {}
        self._request_ids = itertools.count()
        self._send_lock = asyncio.Lock()
        self._reader = asyncio.ensure_future(self._read())

    async def fork(self, env: dict[str, str], on_line: LineSink) -> WorkerProcess:
        """Fork a child with ``env`` added to its environment.

        Raises:
            ZygoteError: The zygote is gone or could not fork.
        """
        if self.gone.is_set():
            raise ZygoteError("the zygote is gone")
        loop = asyncio.get_running_loop()
        request_id = next(self._request_ids)
        child = _Child(loop.create_future(), loop.create_future())
        self._children[request_id] = child
        stdout_read, stdout_write = os.pipe()
        stderr_read, stderr_write = os.pipe()
        try:
            try:
                await self._send({"op": "fork", "id": request_id, "env": env}, [stdout_write, stderr_write])
            finally:  # the child has its own copies; the runtime keeps only the read ends
                os.close(stdout_write)
                os.close(stderr_write)
            pid = await child.pid
        except BaseException:
            self._children.pop(request_id, None)
            os.close(stdout_read)
            os.close(stderr_read)
            raise
        return await WorkerProcess.adopt(pid, stdout_read, stderr_read, child.exited, on_line)

    async def retire(self, wait: float | None) -> None:
        """Ask the zygote to exit once its children have; stop it after ``wait`` seconds (None: no limit)."""
        with contextlib.suppress(ZygoteError):
            await self._send({"op": "retire"})
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.gone.wait(), wait)
        await self.process.stop()
        self._reader.cancel()  # a no-op once it has read to the end, as it has unless the zygote hung
        await asyncio.wait({self._reader})
        self.connection.close()

    async def _send(self, message: RuntimeMessage, fds: Sequence[int] = ()) -> None:
        assert len(fds) in (0, FDS_PER_FORK)
        data = encode(message)
        loop = asyncio.get_running_loop()
        async with self._send_lock:
            try:
                while True:
                    try:
                        sent = socket.send_fds(self.connection, [data], list(fds))
                        break
                    except BlockingIOError:
                        await _writable(loop, self.connection)
                await loop.sock_sendall(self.connection, data[sent:])
            except OSError as exc:
                raise ZygoteError(f"lost the connection to the zygote: {exc}") from exc

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        reader = LineReader()
        try:
            while True:
                data = await loop.sock_recv(self.connection, 1 << 16)
                if not data:
                    return
                messages: list[ZygoteMessage] = reader.feed(data)
                for message in messages:
                    self._dispatch(message)
        except OSError:
            return
        finally:
            self._on_gone()

    def _dispatch(self, message: ZygoteMessage) -> None:
        if message["event"] == "ready" or message["event"] == "refused":
            if not self.ready.done():
                self.ready.set_result(message["reason"] if message["event"] == "refused" else None)
            return
        child = self._children.get(message["id"])
        if child is None:  # its fork() was abandoned
            return
        if message["event"] == "forked":
            if not child.pid.done():
                child.pid.set_result(message["pid"])
        elif message["event"] == "fork_failed":
            del self._children[message["id"]]
            child.pid.set_exception(ZygoteError(f"fork failed: {message['error']}"))
        else:
            del self._children[message["id"]]
            child.exited.set_result(message["status"])

    def _on_gone(self) -> None:
        self.gone.set()
        for child in self._children.values():
            if not child.pid.done():
                child.pid.set_exception(ZygoteError("the zygote exited while forking"))
            else:
                # Its parent is gone, so nobody can tell its exit status; wait for it to be gone.
                watcher = asyncio.ensure_future(_wait_gone(child.pid.result(), child.exited))
                _orphan_watchers.add(watcher)
                watcher.add_done_callback(_orphan_watchers.discard)
        self._children.clear()


_orphan_watchers: set[asyncio.Future[None]] = set()
"""Keeps the watchers of a dead zygote's children alive (the event loop only holds tasks weakly)."""


class Prefork:
    """Starts the zygote, forks attempts from it, and says when attempts start cold instead.

    Args:
        command: The worker command.
        socket_dir: The runtime's private (0700) directory, for the control socket.
        echo: Prints a line for the user.
        verbose: Also echo what the zygote prints.
    """

    def __init__(
        self, command: WorkerCommand, socket_dir: Path, echo: Callable[[str], None], verbose: bool = False
    ) -> None:
        self._command = command
        self._socket_dir = socket_dir
        self._echo = echo
        self._verbose = verbose
        self._zygote: ZygoteConnection | None = None
        self._lock = asyncio.Lock()
        self._retiring: dict[asyncio.Future[None], ZygoteConnection] = {}
        self._socket_names = itertools.count()
        self._reported: str | None = None
        try:
            self._python: PythonCommand | None = parse_python_command(command.argv, command.cwd)
            self._off: str | None = None
        except NotPreforkable as exc:
            self._python = None
            self._off = f"{exc}; every attempt starts the worker command"

    def describe(self) -> str:
        """One line for the banner: on (with the zygote's pid) or off and why."""
        if self._zygote is not None and not self._zygote.gone.is_set():
            return f"on: attempts fork from a pre-imported worker (pid {self._zygote.process.pid})"
        return (
            f"off: {self._off}" if self._off else "on (the pre-imported worker starts with the next attempt)"
        )

    async def restart(self, announce: bool = True) -> None:
        """Start a zygote with the current sources, retiring the previous one (it exits after its children).

        Call it after every registration. With ``announce``, a refusal is echoed (once per distinct reason);
        otherwise it is left to the banner.
        """
        if self._python is None:
            return
        async with self._lock:
            self._retire_current()
            self._zygote = await self._launch(self._python)
            if self._zygote is None and not announce:
                self._reported = self._off
            elif self._zygote is not None and self._reported is not None:
                self._reported = None
                if announce:
                    self._echo(f"Prefork {self.describe()}")

    async def fork(self, socket_path: Path, on_line: LineSink) -> WorkerProcess | None:
        """Fork the attempt that serves ``socket_path``; None means: start it cold."""
        async with self._lock:
            zygote = self._zygote
            if zygote is not None and zygote.gone.is_set():
                self._echo(
                    f"Prefork: the pre-imported worker (pid {zygote.process.pid}) exited; starting another"
                )
                self._retire_current()
                zygote = None
            if zygote is None and self._python is not None and self._off is None:
                zygote = self._zygote = await self._launch(self._python)
        if zygote is None:
            return None
        try:
            return await zygote.fork(attempt_variables("run", str(socket_path)), on_line)
        except ZygoteError as exc:
            self._echo(f"Prefork: {exc}; starting this attempt cold")
            return None

    async def close(self) -> None:
        """Stop the zygotes (after the runtime has stopped the attempts)."""
        async with self._lock:
            self._off = "the local runtime is stopping"
            self._retire_current(GRACE_SECONDS)
        retiring = dict(self._retiring)
        if retiring:
            _, pending = await asyncio.wait(retiring, timeout=GRACE_SECONDS)
            for retirement in pending:  # children still running: stop the zygote anyway
                await retiring[retirement].process.kill()
            if pending:
                await asyncio.wait(pending)

    def _retire_current(self, wait: float | None = None) -> None:
        if self._zygote is not None:
            retirement = asyncio.ensure_future(self._zygote.retire(wait))
            self._retiring[retirement] = self._zygote
            retirement.add_done_callback(self._forget_retirement)
            self._zygote = None

    def _forget_retirement(self, retirement: asyncio.Future[None]) -> None:
        del self._retiring[retirement]

    async def _launch(self, python: PythonCommand) -> ZygoteConnection | None:
        """Start a zygote and wait until it is ready; None (and ``self._off`` set) if it is not."""
        self._off = None
        stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)

        def on_line(stream: str, line: str) -> None:
            if stream == "stderr":
                stderr.append(line)
            if self._verbose:
                self._echo(f"  prefork worker {stream}: {line}")

        control_path = self._socket_dir / f"prefork-{next(self._socket_names)}.sock"
        argv = [python.interpreter, *python.options, "-m", ZYGOTE_MODULE, str(control_path), *python.program]
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        loop = asyncio.get_running_loop()
        try:
            listener.bind(str(control_path))
            os.chmod(control_path, 0o600)
            listener.listen(1)
            listener.setblocking(False)
            try:
                process = await WorkerProcess.start(
                    argv, self._command.base_environment(), self._command.cwd, on_line
                )
            except OSError as exc:
                self._refused(f"could not start `{' '.join(argv)}`: {exc}")
                return None
            accepted = asyncio.ensure_future(loop.sock_accept(listener))
            exited = asyncio.ensure_future(process.wait_exit())
            await asyncio.wait({accepted, exited}, timeout=READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
            if not accepted.done():
                accepted.cancel()
                await process.kill()
                self._refused(_not_ready(exited, stderr))
                return None
        finally:
            listener.close()
            control_path.unlink(missing_ok=True)
        connection, _ = accepted.result()
        connection.setblocking(False)
        zygote = ZygoteConnection(process, connection)
        waiters: set[asyncio.Future[Any]] = {zygote.ready, exited}
        await asyncio.wait(waiters, timeout=READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        if not zygote.ready.done() and exited.done():  # its last message may still be on the way
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(zygote.gone.wait(), GRACE_SECONDS)
        if zygote.ready.done() and zygote.ready.result() is None:
            return zygote
        await zygote.retire(0)  # also reads its output to the end, for the reason below
        reason = zygote.ready.result() if zygote.ready.done() else None
        self._refused(reason or _not_ready(exited, stderr))
        return None

    def _refused(self, reason: str) -> None:
        self._off = f"{reason}; every attempt starts the worker command"
        if self._off != self._reported:
            self._reported = self._off
            self._echo(f"Prefork off: {self._off}")


def _not_ready(exited: asyncio.Future[int | None], stderr: collections.deque[str]) -> str:
    if exited.done():
        how = f"exited with status {exited.result()}"
    else:
        how = f"did not get ready within {READY_TIMEOUT:g} s"
    return f"the pre-imported worker {how}" + (f" ({stderr[-1].strip()})" if stderr else "")


async def _writable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(sock, wake)
    try:
        await ready
    finally:
        loop.remove_writer(sock)


async def _wait_gone(pid: int, exited: asyncio.Future[int | None]) -> None:
    while pid_running(pid):
        await asyncio.sleep(_POLL_SECONDS)
    if not exited.done():
        exited.set_result(None)
