"""A small HTTP/1.1 server on a Unix socket, for the worker callback API.

Each worker process gets its own socket in a private directory (mode 0700). The socket is 0600 from
the moment it exists: it is bound under a umask that leaves no other bits, not chmod-ed afterwards. It
listens with a large backlog: a fan-out from an asyncio worker opens many connections at once, and a backlog
of 5 would refuse some. Requests are parsed by h11, so keep-alive, chunked bodies and malformed requests
behave like any real server; each answer (a status and a small JSON body) is written in one piece.

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
from http import HTTPStatus
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
        self.handler = handler
        self._notice = notice or (lambda line: None)
        self._noticed: set[str] = set()
        self.on_refused = on_refused or (lambda path, message: None)
        self._max_connections = max_connections
        self.max_body_bytes = max_body_bytes
        self._slots = asyncio.Semaphore(max_connections)
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._connections: set[_Connection] = set()

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
        abandoned = [connection.abandon() for connection in list(self._connections)]
        handlers = [handler for handler in abandoned if handler is not None]
        if handlers:
            await asyncio.wait(handlers)
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
            try:
                await loop.connect_accepted_socket(lambda: _Connection(self), connection)
            except OSError:
                connection.close()
                self._slots.release()

    def opened(self, connection: _Connection) -> None:
        self._connections.add(connection)

    def ended(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        self._slots.release()


class _Connection(asyncio.Protocol):
    """One connection: requests parsed by h11, one at a time, each answered in one write.

    A handler may hold a request for seconds (a subtask result), so the connection is read meanwhile: a client
    that hangs up ends its handler, and a pipelined request is kept (reading pauses) for the next cycle. Each
    request cycle gets a fresh h11 parser, handed what the previous one received beyond its request.
    """

    def __init__(self, server: SocketServer) -> None:
        self._server = server
        self._parser = _parser()
        self._transport: asyncio.Transport | None = None
        self._request: h11.Request | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self._handling: asyncio.Task[Reply] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._handling is not None:
            self._handling.cancel()
        self._server.ended(self)

    def data_received(self, data: bytes) -> None:
        self._parser.receive_data(data)
        if self._handling is not None:
            assert self._transport is not None
            self._transport.pause_reading()  # a pipelined request waits for the answer to this one
            return
        self._advance()

    def eof_received(self) -> bool:
        if self._handling is not None:  # the client hung up on a held request: nobody is left to answer
            self._handling.cancel()
            return False
        self._parser.receive_data(b"")
        self._advance()
        return True

    def abandon(self) -> asyncio.Task[Reply] | None:
        """Close the connection (the server stops); the handler still running, if any, is cancelled."""
        handling = self._handling
        if handling is not None:
            handling.cancel()
        if self._transport is not None:
            self._transport.close()
        return handling

    def _advance(self) -> None:
        """Read events until a request is complete (then answer it) or more data is needed."""
        max_body = self._server.max_body_bytes
        while True:
            try:
                event = self._parser.next_event()
            except h11.RemoteProtocolError as exc:
                self._respond(Reply(400, {"message": f"malformed HTTP request: {exc}"}), close=True)
                return
            if event is h11.NEED_DATA:
                return
            if isinstance(event, h11.Request):
                self._request, self._chunks, self._size = event, [], 0
                declared = dict(event.headers).get(b"content-length", b"")
                if declared.isdigit() and int(declared) > max_body:
                    self._refuse_too_large()
                    return
            elif isinstance(event, h11.Data):
                self._size += len(event.data)
                if self._size > max_body:
                    self._refuse_too_large()
                    return
                self._chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                assert self._request is not None
                request, body = self._request, b"".join(self._chunks)
                self._request, self._chunks = None, []
                handling = self._handling = asyncio.ensure_future(self._call(request, body))
                handling.add_done_callback(self._answered)
                return
            else:  # ConnectionClosed: the client is done
                self._close()
                return

    async def _call(self, request: h11.Request, body: bytes) -> Reply:
        try:
            return await self._server.handler(request.method.decode(), request.target.decode(), body)
        except HttpError as exc:
            return Reply(exc.status, {"message": exc.message})

    def _answered(self, handling: asyncio.Task[Reply]) -> None:
        self._handling = None
        if handling.cancelled() or self._transport is None or self._transport.is_closing():
            return
        error = handling.exception()
        if error is not None:
            handling.get_loop().call_exception_handler(
                {"message": "callback handler failed", "exception": error, "task": handling}
            )
            self._respond(Reply(500, {"message": f"local runtime error: {type(error).__name__}"}), close=True)
            return
        close = self._parser.their_state is h11.MUST_CLOSE
        self._respond(handling.result(), close=close)
        if not close:
            self._next_cycle()

    def _next_cycle(self) -> None:
        """A fresh parser for the next request, given what the last one received beyond its request."""
        data, closed = self._parser.trailing_data
        self._parser = _parser()
        if data:
            self._parser.receive_data(bytes(data))
        if closed:
            self._parser.receive_data(b"")  # h11's end of file
        assert self._transport is not None
        self._transport.resume_reading()
        self._advance()

    def _refuse_too_large(self) -> None:
        path = _path(self._request)
        message = (
            f"request body is larger than the local runtime's limit of {self._server.max_body_bytes} bytes"
        )
        self._server.on_refused(path, message)
        self._respond(Reply(413, {"message": message}), close=True)

    def _respond(self, reply: Reply, close: bool) -> None:
        assert self._transport is not None
        self._transport.write(_response(reply, close))
        if close:
            self._close()

    def _close(self) -> None:
        assert self._transport is not None
        self._transport.close()


def _parser() -> h11.Connection:
    return h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)


def _response(reply: Reply, close: bool) -> bytes:
    body = b"" if reply.body is None else dumps(reply.body).encode()
    head = f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}\r\ncontent-length: {len(body)}\r\n"
    if reply.body is not None:
        head += "content-type: application/json\r\n"
    if close:
        head += "connection: close\r\n"
    return head.encode() + b"\r\n" + body


def make_socket_dir() -> Path:
    """A new private directory (0700) for the sockets of one server, short enough for every socket in it.

    It is made in the temporary directory (``TMPDIR``), or in ``/tmp`` where that one is too deep for a Unix
    socket's path (macOS's per-user ``TMPDIR`` is long, and so are a test's).
    """
    bases = list(dict.fromkeys((tempfile.gettempdir(), "/tmp")))
    for base in bases:
        directory = Path(tempfile.mkdtemp(prefix="render-sdk-", dir=base))
        if len(os.fsencode(directory)) + _SOCKET_NAME_ROOM <= _MAX_SOCKET_PATH:
            return directory
        directory.rmdir()
    tried = ", ".join(bases)
    raise OSError(errno.ENAMETOOLONG, f"no directory short enough for Unix sockets (tried {tried})")


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
