"""A small HTTP/1.1 server on a Unix socket, for the worker callback API.

Each worker process gets its own socket in a private directory (mode 0700). The socket is 0600 from
the moment it exists: it is bound under a umask that leaves no other bits, not chmod-ed afterwards. It
listens with a large backlog: a fan-out from an asyncio worker opens many connections at once, and a backlog
of 5 would refuse some. HTTP is parsed by h11, so keep-alive, chunked bodies and malformed requests behave
like any real server.

Bounds, so that one worker cannot exhaust the server: at most :data:`~render_sdk.local.limits.
CONNECTIONS_PER_ATTEMPT` connections are served at once (further ones wait in the backlog until one ends), a
request body is read no further than :data:`~render_sdk.local.limits.CALLBACK_BODY_BYTES` (413 past it), and
running out of file descriptors pauses accepting instead of failing in a loop. Each of these is reported
once per socket through ``notice``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h11

from render_sdk._protocol.strict_json import dumps
from render_sdk.local.limits import CALLBACK_BODY_BYTES, CONNECTIONS_PER_ATTEMPT

__all__ = ["HttpError", "Reply", "SocketServer", "make_socket_dir"]

BACKLOG = 4096
MAX_HEADER_BYTES = 64 << 10
_OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_DESCRIPTOR_PAUSE_SECONDS = 0.1
# A Unix socket's path is at most 107 bytes on Linux and 103 on macOS (sun_path, with its NUL). The sockets'
# own names (``prefork-<n>.sock``, ``register-<n>.sock``, ``<n>.sock``) take at most this many of them:
_MAX_SOCKET_PATH = 103
_SOCKET_NAME_ROOM = 32


@dataclass(frozen=True)
class Reply:
    """A response: a status and an optional JSON body."""

    status: int = 200
    body: Any = None


class HttpError(Exception):
    """Raised by a handler to answer with ``status`` and ``{"message": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[[str, str, bytes], Awaitable[Reply]]
"""Called with (method, path, body); returns the reply or raises :class:`HttpError`."""


class SocketServer:
    """Serves ``handler`` on a Unix socket at ``path`` until :meth:`close`.

    Args:
        path: Where the socket is created.
        handler: Answers each request.
        notice: Told, once per socket and kind, when a bound is hit (a line for the user).
        on_refused: Told (path, message) when a request is refused before reaching ``handler``.
        max_connections: The most connections served at once.
        max_body_bytes: The largest request body read.
    """

    def __init__(
        self,
        path: Path,
        handler: Handler,
        notice: Callable[[str], None] | None = None,
        on_refused: Callable[[str, str], None] | None = None,
        max_connections: int = CONNECTIONS_PER_ATTEMPT,
        max_body_bytes: int = CALLBACK_BODY_BYTES,
    ) -> None:
        self.path = path
        self._handler = handler
        self._notice = notice or (lambda line: None)
        self._noticed: set[str] = set()
        self._on_refused = on_refused or (lambda path, message: None)
        self._max_connections = max_connections
        self._max_body_bytes = max_body_bytes
        self._slots = asyncio.Semaphore(max_connections)
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind and listen."""
        self._listener = _bind_private(self.path)
        self._accepting = asyncio.ensure_future(self._accept_loop(self._listener))

    async def close(self) -> None:
        """Stop listening, end open connections and remove the socket file."""
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
        if self._listener is not None:
            self._listener.close()
        for connection in list(self._connections):
            connection.cancel()
        if self._connections:
            await asyncio.wait(self._connections)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _notice_once(self, kind: str, line: str) -> None:
        if kind not in self._noticed:
            self._noticed.add(kind)
            self._notice(line)

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._slots.locked():
                self._notice_once(
                    "connections",
                    f"the worker holds {self._max_connections} callback connections open, the most one "
                    "attempt may; further connections wait until one ends",
                )
            await self._slots.acquire()
            try:
                connection, _ = await loop.sock_accept(listener)
            except OSError as exc:
                self._slots.release()
                if exc.errno not in _OUT_OF_DESCRIPTORS:
                    raise
                self._notice_once(
                    "descriptors",
                    f"cannot accept more callback connections ({exc.strerror}); waiting for some to close",
                )
                await asyncio.sleep(_DESCRIPTOR_PAUSE_SECONDS)
                continue
            task = asyncio.ensure_future(self._serve(connection))
            self._connections.add(task)
            task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._connections.discard(task)
        self._slots.release()

    async def _serve(self, connection: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_unix_connection(sock=connection)
        except OSError:
            connection.close()
            return
        try:
            await self._serve_connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        while True:
            try:
                request, body = await _read_request(connection, reader, self._max_body_bytes)
            except h11.RemoteProtocolError as exc:
                if connection.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await _send(connection, writer, Reply(400, {"message": f"malformed HTTP request: {exc}"}))
                return
            except _BodyTooLarge as exc:
                message = (
                    f"request body is larger than the local runtime's limit of {self._max_body_bytes} bytes"
                )
                self._on_refused(exc.path, message)
                await _send(connection, writer, Reply(413, {"message": message}))
                return
            if request is None:
                return
            reply = await self._answer(request, body, connection, reader)
            if reply is None:
                return
            await _send(connection, writer, reply)
            if connection.our_state is h11.MUST_CLOSE or connection.their_state is h11.MUST_CLOSE:
                return
            try:
                connection.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _answer(
        self, request: h11.Request, body: bytes, connection: h11.Connection, reader: asyncio.StreamReader
    ) -> Reply | None:
        """The handler's reply, or None if the client hung up first.

        A handler may hold a request for seconds (a subtask result), so the connection is read meanwhile: a
        client that goes away ends its handler, and a pipelined request is kept by h11 for the next cycle.
        """
        handling = asyncio.ensure_future(self._call(request, body))
        hangup = asyncio.ensure_future(reader.read(65536))
        try:
            await asyncio.wait({handling, hangup}, return_when=asyncio.FIRST_COMPLETED)
            if hangup.done():
                data = hangup.result()
                if not data and not handling.done():
                    return None
                if data:
                    connection.receive_data(data)
            return await handling
        finally:
            handling.cancel()
            if not hangup.done():
                hangup.cancel()
                # Unread data stays buffered; the next request's read may start only once this one ended.
                await asyncio.wait({hangup})

    async def _call(self, request: h11.Request, body: bytes) -> Reply:
        try:
            return await self._handler(request.method.decode(), request.target.decode(), body)
        except HttpError as exc:
            return Reply(exc.status, {"message": exc.message})


class _BodyTooLarge(Exception):
    """The request body is (declared or read to be) larger than the limit."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


async def _read_request(
    connection: h11.Connection, reader: asyncio.StreamReader, max_body_bytes: int
) -> tuple[h11.Request | None, bytes]:
    request: h11.Request | None = None
    chunks: list[bytes] = []
    size = 0
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            connection.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            request = event
            declared = dict(event.headers).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > max_body_bytes:
                raise _BodyTooLarge(_path(event))
        elif isinstance(event, h11.Data):
            size += len(event.data)
            if size > max_body_bytes:
                raise _BodyTooLarge(_path(request))
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return request, b"".join(chunks)
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None, b""


async def _send(connection: h11.Connection, writer: asyncio.StreamWriter, reply: Reply) -> None:
    body = b"" if reply.body is None else dumps(reply.body).encode()
    headers = [("content-length", str(len(body)))]
    if reply.body is not None:
        headers.append(("content-type", "application/json"))
    writer.write(connection.send(h11.Response(status_code=reply.status, headers=headers)))
    if body:
        writer.write(connection.send(h11.Data(data=body)))
    writer.write(connection.send(h11.EndOfMessage()))
    await writer.drain()


def make_socket_dir() -> Path:
    """A new private directory (0700) for the sockets of one server, short enough for every socket in it.

    It is made in the temporary directory (``TMPDIR``), or in ``/tmp`` where that one is too deep for a Unix
    socket's path (macOS's per-user ``TMPDIR`` is long, and so are a test's).
    """
    for base in dict.fromkeys((tempfile.gettempdir(), "/tmp")):
        directory = Path(tempfile.mkdtemp(prefix="render-sdk-", dir=base))
        if len(os.fsencode(directory)) + _SOCKET_NAME_ROOM <= _MAX_SOCKET_PATH:
            return directory
        directory.rmdir()
    raise OSError(errno.ENAMETOOLONG, f"no directory short enough for Unix sockets (tried {base})")


def _path(request: h11.Request | None) -> str:
    return "" if request is None else request.target.decode(errors="replace").split("?", 1)[0]


def _bind_private(path: Path) -> socket.socket:
    """A listening Unix socket at ``path``, created 0600: the umask is set for the bind, not fixed after."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        previous = os.umask(0o177)
        try:
            listener.bind(str(path))
        finally:
            os.umask(previous)
        listener.listen(BACKLOG)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener
