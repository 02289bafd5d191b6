"""One callback-API request, sans I/O: HTTP/1.1 bytes, answer to result or error, and retry timing.

The blocking transport (register mode, and run mode up to a task's outcome) and the asyncio transport (an
async task's subtasks and outcome) move these bytes over the Unix socket, so both speak HTTP and retry the
same way: transient failures (the socket missing or refusing, a reset, a timeout, 5xx, 429) are retried with
capped exponential backoff for about a minute; other 4xx answers are final. One connection per request,
``Connection: close``: Render's runtime may close the socket after each answer.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

import httptools

from render_sdk._protocol.strict_json import dumps
from render_sdk._version import user_agent
from render_sdk.client.errors import (
    RenderError,
    ServerError,
    TimeoutError,
    error_from_answer,
    is_transient,
)

__all__ = [
    "REQUEST_TIMEOUT_SECONDS",
    "RETRY_FOR_SECONDS",
    "Exchange",
    "ProtocolError",
    "Request",
    "SocketSettings",
    "Transient",
]

REQUEST_TIMEOUT_SECONDS = 15.0
RETRY_FOR_SECONDS = 60.0
FIRST_RETRY_DELAY_SECONDS = 0.05
MAX_RETRY_DELAY_SECONDS = 5.0
MAX_READ = 65_536


class SocketSettings:
    """Where and how long a socket transport talks to the callback API.

    Args:
        socket_path: The Unix socket Render named in ``RENDER_SDK_SOCKET_PATH``.
        request_timeout: Seconds allowed for one attempt (connect, send, answer).
        retry_for: Seconds after which a transient failure is no longer retried.
    """

    def __init__(
        self,
        socket_path: str,
        *,
        request_timeout: float = REQUEST_TIMEOUT_SECONDS,
        retry_for: float = RETRY_FOR_SECONDS,
    ) -> None:
        self.socket_path = socket_path
        self.request_timeout = request_timeout
        self.retry_for = retry_for

    def new_request(self, operation: str, method: str, path: str, body: dict[str, Any] | None) -> Request:
        """The request every attempt of this call sends."""
        return Request(operation, method, path, body, self.socket_path, self.retry_for)


class Transient(Exception):
    """A failed attempt worth retrying; ``error`` is what to raise when the retries run out."""

    def __init__(self, error: RenderError) -> None:
        super().__init__(str(error))
        self.error = error


class Exchange:
    """One attempt: the request's bytes (``outgoing``), then the answer assembled from what is read.

    The answer is parsed by httptools (llhttp, the parser uvicorn serves with): a worker pays for every module
    it imports, and httptools costs it next to nothing where h11 would add a fifth to a cold attempt.
    """

    def __init__(self, method: str, path: str, payload: bytes | None) -> None:
        head = f"{method} {path} HTTP/1.1\r\n{_headers(payload is not None)}"
        if payload is not None:
            head += f"Content-Length: {len(payload)}\r\n"
        self.outgoing = f"{head}\r\n".encode("ascii") + (payload or b"")
        self.status = 0  # until the head of the final (not 1xx) answer has arrived
        self.body = bytearray()
        self._complete = False
        self._framed = False  # the answer says where its body ends (Content-Length or chunked)
        self._parser = httptools.HttpResponseParser(self)

    def receive(self, data: bytes) -> bool:
        """Take bytes read from the socket (``b""`` at its end); True once the answer is complete.

        Raises:
            ProtocolError: The bytes are not an HTTP/1.1 answer, or the connection ended inside one.
            ConnectionResetError: The socket closed before an answer.
        """
        if data:
            self._parser.feed_data(data)
            return self._complete
        if not self.status:
            raise ConnectionResetError("the connection closed before an answer")
        if not self._complete and self._framed:
            raise ProtocolError("the connection closed in the middle of the answer")
        return True  # a body without framing ends with the connection

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if not 100 <= status < 200:  # an interim answer (100 Continue): the final one follows
            self.status = status

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self._complete = self.status != 0


ProtocolError = httptools.HttpParserError
"""The bytes read are not an HTTP/1.1 answer."""


@functools.cache
def _headers(has_body: bool) -> str:
    """The header fields every request carries, as they go on the wire (``Content-Length`` comes after)."""
    headers = [
        ("Host", "localhost"),
        ("User-Agent", user_agent()),
        ("Accept", "application/json"),
        ("Connection", "close"),
    ]
    if has_body:
        headers.append(("Content-Type", "application/json"))
    return "".join(f"{name}: {value}\r\n" for name, value in headers)


class Request:
    """A request to the callback API as every attempt sends it, and the decisions about its attempts.

    Args:
        operation: What the request does, for messages (``"run subtask"``).
        method: ``GET`` or ``POST``.
        path: The endpoint, e.g. ``/run-subtask``.
        body: The JSON body; the same bytes are resent on every retry.
        socket_path: The Unix socket, for messages.
        retry_for: Seconds after which a transient failure is no longer retried.
    """

    def __init__(
        self,
        operation: str,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        socket_path: str,
        retry_for: float,
    ) -> None:
        self.operation = operation
        self.method = method
        self.path = path
        self.payload = None if body is None else dumps(body).encode()
        self.socket_path = socket_path
        self.retry_for = retry_for
        self._started = time.monotonic()
        self._retries = 0

    def exchange(self) -> Exchange:
        """A fresh attempt."""
        return Exchange(self.method, self.path, self.payload)

    def answer(self, exchange: Exchange) -> Any:
        """The parsed JSON answer of a completed attempt (None if empty).

        Raises:
            Transient: A 5xx or 429 answer.
            ClientError: Another 4xx answer.
            RenderError: The answer is not JSON.
        """
        status, data = exchange.status, bytes(exchange.body)
        if status >= 300:
            error = error_from_answer(self.operation, status, data)
            if is_transient(error):
                raise Transient(error)
            raise error
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RenderError(f"{self.operation}: the answer is not JSON ({exc}): {data[:200]!r}") from None

    def timed_out(self, timeout: float) -> Transient:
        """The failure of an attempt that took longer than ``timeout`` seconds."""
        return Transient(TimeoutError(f"{self.operation} timed out after {timeout:g}s"))

    def unreachable(self, exc: Exception) -> Transient:
        """The failure of an attempt that could not talk HTTP over the socket (OSError, ProtocolError)."""
        return Transient(
            ServerError(
                f"{self.operation} failed: cannot talk to the callback socket {self.socket_path}: {exc}"
            )
        )

    def retry_delay(self, failure: Transient) -> float:
        """Seconds to wait before the next attempt.

        Raises:
            RenderError: The failure's error, when retrying would go past ``retry_for``.
        """
        delay = min(FIRST_RETRY_DELAY_SECONDS * 2.0**self._retries, MAX_RETRY_DELAY_SECONDS)
        if time.monotonic() - self._started + delay > self.retry_for:
            raise failure.error
        self._retries += 1
        # Imported here: a worker whose requests succeed never loads logging.
        import logging

        logging.getLogger("render_sdk.workflows").warning(
            "%s failed (attempt %d), retrying in %.2fs: %s",
            self.operation,
            self._retries,
            delay,
            failure.error,
        )
        return delay
