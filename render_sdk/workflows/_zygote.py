"""The pre-imported worker that ``render-workflows dev --prefork`` forks one child per attempt from.

Run by the local runtime (:mod:`render_sdk.local._prefork`) as::

    <python> [options] -m render_sdk.workflows._zygote CONTROL_SOCKET (SCRIPT | -m MODULE) [ARGS...]

with the worker command's cwd and environment, minus the per-attempt variables
(:func:`render_sdk._protocol.worker_env.attempt_variables`: the mode and the socket). It connects to the
runtime's control socket, then runs the user's program as
``__main__`` the way ``python SCRIPT`` or ``python -m MODULE`` would (same ``sys.argv``, ``sys.path[0]`` and
``__main__`` module, which stays installed), so every task gets defined. Nothing serves: the mode variable
is unset, so the ``auto_start`` exit hook does nothing in this process. The transport modules a child needs
are imported here too, once.

It then tells the runtime ``ready``, or ``refused`` with the reason (and exits) when forking would not
behave like a cold start or would not be safe:

* the program failed or exited while being imported, or served its tasks itself (``app.start()`` at module
  level: it needs the mode variable, which only a child has);
* no ``Workflows(auto_start=True)`` app exists, so a cold start would not serve either;
* the process has more than one thread (a fork copies only the forking thread, and locks other threads held
  stay locked forever in the child);
* it holds a socket other than the control socket (a database or network connection every child would
  share).

Before ``ready``, the zygote rehearses (:func:`_rehearse`): it serves :data:`REHEARSALS` stand-in attempts of
two built-in no-op tasks itself, so that the code every child runs is already specialized by CPython, and then
freezes what it holds out of the garbage collector's reach. A child then writes to, and so copies, fewer of
the pages it shares with the zygote: about 20% less CPU per forked attempt.

Control protocol: :mod:`render_sdk._protocol.prefork` (JSON lines, the attempt's stdout and stderr
attached to each fork request). The runtime is not the children's parent, so the ``exited`` message is how it
learns their exit status. End of file on the connection means the runtime is gone: the zygote exits (its
children run on, as cold-started workers would).

A child: ``os.setsid()`` (its own process group and session, so a timeout or cancel kills everything it
starts), closes the zygote's descriptors, makes the two pipes its stdout and stderr (stdin is already
``/dev/null``, as for a cold start), sets the per-attempt variables
(:func:`render_sdk._protocol.worker_env.attempt_variables`) in ``os.environ``, and serves through the very
exit hook ``auto_start`` installed (:meth:`~render_sdk.workflows._serving.ProcessServing.serve_at_exit`), then
exits with ``os._exit`` after flushing logging and
the standard streams. ``os.fork`` runs the at-fork hooks, so ``random`` is reseeded by the standard library.
Like a ``multiprocessing`` fork child, a child does not run the ``atexit`` hooks inherited from the zygote:
they belong to the one process that imported the program (a temporary directory created at import must not
be deleted by the first child to exit).
"""

from __future__ import annotations

import builtins
import contextlib
import gc
import importlib.machinery
import io
import os
import runpy
import selectors
import signal
import socket
import sys
import tempfile
import threading
import traceback
import types
from collections import deque
from collections.abc import Sequence
from typing import NoReturn

import httptools

from render_sdk._protocol.payload import encode_payload
from render_sdk._protocol.prefork import (
    FDS_PER_FORK,
    Exited,
    Forked,
    ForkFailed,
    LineReader,
    Ready,
    Refused,
    RuntimeMessage,
    ZygoteMessage,
    encode,
)
from render_sdk._protocol.strict_json import dumps
from render_sdk.workflows._serving import PROCESS, exit_process

__all__ = ["main"]

USAGE = "usage: python -m render_sdk.workflows._zygote CONTROL_SOCKET (SCRIPT | -m MODULE) [ARGS...]"
_RECEIVE_BYTES = 1 << 16
# Linux hands over one message's descriptors per read on a stream socket; this leaves ample room.
_MAX_FDS = 64


class _Refusal(Exception):
    """Forking this program would not behave like a cold start; the message says why."""


def main(argv: Sequence[str]) -> int:
    """Connect to the runtime, import the program, then fork one child per request until told to stop."""
    if len(argv) < 2 or (argv[1] == "-m" and len(argv) < 3):
        print(USAGE, file=sys.stderr)
        return 2
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    control.connect(argv[0])
    try:
        _import_program(argv[1:])
        _check_fork_safety(control)
    except _Refusal as exc:
        _send(control, Refused(event="refused", reason=str(exc)))
        return 0
    _rehearse()
    # Everything the import built lives as long as the zygote: keep it out of every collection, so that the
    # collector in a child never writes to (and so copies) the pages the child shares with the zygote.
    gc.collect()
    gc.freeze()
    _send(control, Ready(event="ready"))
    _ForkLoop(control).serve()
    return 0


def _import_program(target: Sequence[str]) -> None:
    """Run the program as ``__main__`` like ``python SCRIPT ARGS`` or ``python -m MODULE ARGS``."""
    name = f"-m {target[1]}" if target[0] == "-m" else target[0]
    main_module = types.ModuleType("__main__")
    sys.modules["__main__"] = main_module
    try:
        if target[0] == "-m":
            sys.argv = ["-m", *target[2:]]
            # What `python -m` itself calls: it runs the module in the current __main__ namespace and keeps
            # that module installed (runpy.run_module would put the zygote's own __main__ back afterwards).
            getattr(runpy, "_run_module_as_main")(target[1], True)  # noqa: B009 - not in typeshed
        else:
            _run_script(main_module, target[0], target[1:])
    except SystemExit as exc:
        if PROCESS.served:
            raise _Refusal(_SERVED_AT_IMPORT) from None
        raise _Refusal(f"`{name}` exited while being imported (status {exc.code!r})") from None
    except BaseException as exc:
        traceback.print_exc()
        if PROCESS.served:
            raise _Refusal(_SERVED_AT_IMPORT) from None
        summary = traceback.format_exception_only(type(exc), exc)[-1].strip()
        raise _Refusal(f"importing `{name}` failed: {summary}") from None
    if PROCESS.served:
        raise _Refusal(_SERVED_AT_IMPORT)
    if not PROCESS.exit_hook_installed:
        raise _Refusal(
            f"`{name}` creates no Workflows(auto_start=True) app, so its tasks are not served at exit; "
            "prefork serves them the way that exit hook does"
        )
    # Every child needs these to serve; importing them once here is much of what prefork saves.
    import render_sdk.workflows._run_mode  # noqa: F401


_SERVED_AT_IMPORT = (
    "the program serves its tasks while being imported (app.start() at module level?); prefork imports the "
    "program first and serves in each child, as Workflows(auto_start=True) does"
)


def _run_script(module: types.ModuleType, script: str, args: Sequence[str]) -> None:
    path = os.path.abspath(script)
    sys.argv = [script, *args]
    if not (sys.flags.isolated or getattr(sys.flags, "safe_path", False)):
        # `python -m` put the cwd first; `python SCRIPT` puts the script's directory there instead.
        sys.path[0] = os.path.dirname(os.path.realpath(path))
    module.__file__ = path
    module.__cached__ = None  # type: ignore[attr-defined]
    module.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    with io.open_code(path) as source:
        code = compile(source.read(), path, "exec")
    try:
        exec(code, module.__dict__)
    finally:
        # CPython removes these once the script has run, so a cold start's exit hook does not see them either.
        for name in ("__file__", "__cached__"):
            module.__dict__.pop(name, None)


REHEARSALS = 10
"""Stand-in attempts the zygote serves itself before forking (CPython specializes code it has run 8 times)."""
_REHEARSAL_TASKS = ("render_sdk_rehearsal_sync", "render_sdk_rehearsal_async")


def _rehearse() -> None:
    """Serve stand-in attempts in this process, the way every child serves, before any child is forked.

    A child then runs code that CPython has already specialized, with the caches it fills already filled: it
    writes to (and so copies) fewer of the pages it shares with the zygote, and spends less time. The attempts
    run two built-in no-op tasks (a sync and an async body, as a program's tasks may be either) against a
    stand-in callback server on a thread, over a socket in a private temporary directory. No task of the
    program runs, nothing is printed, and the process is left as it was: no thread, socket or served state
    remains. A rehearsal that fails is only a warm-up lost.
    """
    from render_sdk._protocol.worker_env import attempt_variables
    from render_sdk.workflows._app import Workflows
    from render_sdk.workflows._serving import serve

    def sync_noop() -> None:
        return None

    async def async_noop() -> None:
        return None

    app = Workflows()
    tasks = [app.task(name=_REHEARSAL_TASKS[0])(sync_noop), app.task(name=_REHEARSAL_TASKS[1])(async_noop)]
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="render-sdk-rehearsal-") as directory:
        path = os.path.join(directory, "callback.sock")
        stand_in = _StandInCallbacks(path)
        try:
            os.environ.update(attempt_variables("run", path))
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                for index in range(REHEARSALS):
                    task = tasks[index % len(tasks)]
                    stand_in.task_name = task.name
                    serve({task.name: task})
        except Exception:  # a warm-up lost: the children serve as they would have anyway
            pass
        finally:
            os.environ.clear()
            os.environ.update(saved)
            stand_in.close()


class _StandInCallbacks:
    """The callback API of a rehearsal, on a thread: ``GET /input`` names ``task_name``; the rest is 200."""

    def __init__(self, path: str) -> None:
        self.task_name = ""
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(8)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # ends the accept() the thread waits in
        self._thread.join()
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                with contextlib.suppress(OSError):
                    self._answer(connection)

    def _answer(self, connection: socket.socket) -> None:
        requests = _Requests()
        parser = httptools.HttpRequestParser(requests)
        while chunk := connection.recv(65536):  # requests, one after the other, until the worker hangs up
            parser.feed_data(chunk)
            for path in requests.take():
                body = b""
                if path == b"/input":
                    answer = {
                        "task_name": self.task_name,
                        "input": encode_payload([]),
                        "task_run_id": "trn-0",
                        "attempt": 0,
                    }
                    body = dumps(answer).encode()
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(body), body)
                )


class _Requests:
    """httptools callbacks: the paths of the requests read in full and not yet answered."""

    def __init__(self) -> None:
        self._url = b""
        self._complete: list[bytes] = []

    def take(self) -> list[bytes]:
        complete, self._complete = self._complete, []
        return complete

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_message_complete(self) -> None:
        self._complete.append(self._url)
        self._url = b""


def _check_fork_safety(control: socket.socket) -> None:
    threads = _thread_count()
    if threads > 1:
        names = ", ".join(
            thread.name for thread in threading.enumerate() if thread is not threading.main_thread()
        )
        raise _Refusal(
            f"the program runs {threads} threads after import ({names or 'not started by threading'}); "
            "forking a process with threads is unsafe"
        )
    sockets = _open_sockets() - {control.fileno()}
    if sockets:
        raise _Refusal(
            f"the program holds {len(sockets)} open socket(s) after import (a network or database "
            "connection?); forked children would share them"
        )


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # no /proc: only threads started through the threading module are visible
        return threading.active_count()


def _open_sockets() -> set[int]:
    """File descriptors of this process that are sockets (empty where /proc is missing)."""
    sockets = set()
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/self/fd/{entry}").startswith("socket:"):
                    sockets.add(int(entry))
    return sockets


def _send(control: socket.socket, message: ZygoteMessage) -> None:
    with contextlib.suppress(OSError):  # the runtime is gone; the next read notices
        control.sendall(encode(message))


class _ForkLoop:
    """The fork loop: one thread, woken by control messages and by SIGCHLD (through a wake-up pipe)."""

    def __init__(self, control: socket.socket) -> None:
        self._control = control
        self._lines = LineReader()
        self._fds: deque[int] = deque()
        self._children: dict[int, int] = {}  # pid -> request id
        self._retiring = False
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(control, selectors.EVENT_READ)
        self._selector.register(self._wake_read, selectors.EVENT_READ)

    def serve(self) -> None:
        # A Python-level handler is needed for the wake-up fd to be written; the reaping happens in the loop.
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self._wake_write)
        while not (self._retiring and not self._children):
            for key, _ in self._selector.select():
                if key.fd == self._wake_read:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self._wake_read, 512):
                            pass
                elif not self._receive():
                    return
            self._reap()

    def _receive(self) -> bool:
        """Read and handle control messages; False when the runtime has closed the connection."""
        data, fds, flags, _ = socket.recv_fds(self._control, _RECEIVE_BYTES, _MAX_FDS)
        self._fds.extend(fds)
        if flags & socket.MSG_CTRUNC:  # descriptors were lost: the requests cannot be matched with theirs
            raise RuntimeError("more file descriptors arrived at once than the zygote can receive")
        if not data:
            return False
        for message in self._lines.feed(data):
            self._handle(message)
        return True

    def _handle(self, message: RuntimeMessage) -> None:
        if message["op"] == "fork":
            # Descriptors arrive with (never after) the first byte of the message they belong to.
            stdout, stderr = (self._fds.popleft() for _ in range(FDS_PER_FORK))
            self._fork(message["id"], message["env"], stdout, stderr)
        elif message["op"] == "retire":
            self._retiring = True

    def _fork(self, request_id: int, env: dict[str, str], stdout: int, stderr: int) -> None:
        session_ready, session_set = os.pipe()
        for stream in (sys.stdout, sys.stderr):  # or the child would print the zygote's buffered output again
            if stream is not None:
                stream.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in (session_ready, session_set, stdout, stderr):
                os.close(fd)
            _send(self._control, ForkFailed(event="fork_failed", id=request_id, error=str(exc)))
            return
        if pid == 0:
            os.close(session_ready)
            self._child(session_set, env, stdout, stderr)
        os.close(session_set)
        os.read(session_ready, 1)  # end of file once the child has called setsid (or died)
        for fd in (session_ready, stdout, stderr):
            os.close(fd)
        self._children[pid] = request_id
        _send(self._control, Forked(event="forked", id=request_id, pid=pid))

    def _child(self, session_set: int, env: dict[str, str], stdout: int, stderr: int) -> NoReturn:
        try:
            try:
                os.setsid()
                os.close(session_set)
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                self._selector.close()
                self._control.close()
                for fd in (self._wake_read, self._wake_write, *self._fds):  # other attempts' pipes, not ours
                    os.close(fd)
                os.dup2(stdout, 1)
                os.dup2(stderr, 2)
                os.close(stdout)
                os.close(stderr)
                os.environ.update(env)
                # Exactly what a cold start's exit hook does; it exits on its own with a non-zero status.
                PROCESS.serve_at_exit()
            except BaseException:  # an exit hook's exception is printed and ignored; so is this one
                traceback.print_exc()
            exit_process(0)
        finally:
            os._exit(1)  # only if exiting failed (a broken pipe): never return into the zygote's loop

    def _reap(self) -> None:
        while self._children:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            request_id = self._children.pop(pid, None)
            if request_id is not None:
                status = os.waitstatus_to_exitcode(wait_status)
                _send(self._control, Exited(event="exited", id=request_id, status=status))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
