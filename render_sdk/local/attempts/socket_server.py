"""A small HTTP/1.1 server on a Unix socket, for the worker callback API.

Each worker process gets its own socket in a private directory (mode 0700, the socket itself 0600), and the
socket listens with a large backlog: a fan-out from an asyncio worker opens many connections at once, and a
backlog of 5 would refuse some of them. HTTP is parsed by h11, so keep-alive, chunked bodies and malformed
requests behave like any real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h11

__all__ = ["HttpError", "Reply", "SocketServer"]

BACKLOG = 4096
_MAX_BODY = 64 << 20


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
    """Serves ``handler`` on a Unix socket at ``path`` until :meth:`close`."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self._handler = handler
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind and listen."""
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), backlog=BACKLOG)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        """Stop listening, end open connections and remove the socket file."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.cancel()
        if self._connections:
            await asyncio.wait(self._connections)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve_connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_BODY)
        while True:
            try:
                request, body = await _read_request(connection, reader)
            except h11.RemoteProtocolError as exc:
                if connection.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await _send(connection, writer, Reply(400, {"message": f"malformed HTTP request: {exc}"}))
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


async def _read_request(
    connection: h11.Connection, reader: asyncio.StreamReader
) -> tuple[h11.Request | None, bytes]:
    request: h11.Request | None = None
    chunks: list[bytes] = []
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            connection.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return request, b"".join(chunks)
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None, b""


async def _send(connection: h11.Connection, writer: asyncio.StreamWriter, reply: Reply) -> None:
    body = b"" if reply.body is None else json.dumps(reply.body, separators=(",", ":")).encode()
    headers = [("content-length", str(len(body)))]
    if reply.body is not None:
        headers.append(("content-type", "application/json"))
    writer.write(connection.send(h11.Response(status_code=reply.status, headers=headers)))
    if body:
        writer.write(connection.send(h11.Data(data=body)))
    writer.write(connection.send(h11.EndOfMessage()))
    await writer.drain()
