"""HTTP/1.1 over the worker's Unix socket (h11), with retries of transient failures.

One connection per request, ``Connection: close``: Render's runtime may close the socket after each answer.
Transient failures (the socket missing or refusing, a reset, a timeout, 5xx, 429) are retried with capped
exponential backoff for about a minute; other 4xx answers are final.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import h11

from render_sdk._version import user_agent
from render_sdk.client.errors import (
    BadRequestError,
    ClientError,
    ConflictError,
    NotFoundError,
    RateLimitError,
    RenderError,
    ServerError,
    TimeoutError,
)

__all__ = ["CallbackTransport"]

logger = logging.getLogger("render_sdk.workflows")

REQUEST_TIMEOUT_SECONDS = 15.0
RETRY_FOR_SECONDS = 60.0
FIRST_RETRY_DELAY_SECONDS = 0.05
MAX_RETRY_DELAY_SECONDS = 5.0
_MAX_READ = 65_536
_CLIENT_ERRORS: dict[int, type[ClientError]] = {400: BadRequestError, 404: NotFoundError, 409: ConflictError}


class _Transient(Exception):
    """A failure worth retrying; ``error`` is what to raise when the retries run out."""

    def __init__(self, error: RenderError) -> None:
        super().__init__(str(error))
        self.error = error


class CallbackTransport:
    """Sends JSON requests to the callback API on ``socket_path``.

    Args:
        socket_path: The Unix socket Render named in ``RENDER_SDK_SOCKET_PATH``.
        request_timeout: Seconds allowed for one request (connect, send, answer).
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
        self._user_agent = user_agent()

    async def request(
        self, operation: str, method: str, path: str, body: dict[str, Any] | None = None
    ) -> Any:
        """Send one request, retrying transient failures, and return the parsed JSON answer (None if empty).

        Args:
            operation: What the request does, for messages (``"run subtask"``).
            method: ``GET`` or ``POST``.
            path: The endpoint, e.g. ``/run-subtask``.
            body: The JSON body; the same bytes are resent on every retry.

        Raises:
            ClientError: A 4xx answer other than 429.
            ServerError: The socket could not be reached, or kept answering 5xx, until the retries ran out.
            TimeoutError: The last attempt timed out.
            RateLimitError: The last attempt was answered 429.
            RenderError: The answer was not JSON.
        """
        payload = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                status, data = await asyncio.wait_for(
                    self._exchange(method, path, payload), self.request_timeout
                )
                return self._answer(operation, status, data)
            except _Transient as transient:
                error = transient.error
            except asyncio.TimeoutError:
                error = TimeoutError(f"{operation} timed out after {self.request_timeout:g}s")
            except (OSError, h11.ProtocolError) as exc:
                error = ServerError(
                    f"{operation} failed: cannot talk to the callback socket {self.socket_path}: {exc}"
                )
            delay = min(FIRST_RETRY_DELAY_SECONDS * 2**attempt, MAX_RETRY_DELAY_SECONDS)
            if time.monotonic() - started + delay > self.retry_for:
                raise error
            attempt += 1
            logger.warning("%s failed (attempt %d), retrying in %.2fs: %s", operation, attempt, delay, error)
            await asyncio.sleep(delay)

    def _answer(self, operation: str, status: int, data: bytes) -> Any:
        if status >= 300:
            message = _error_message(data)
            text = f"{operation} failed with status {status}: {message}"
            if status == 429:
                raise _Transient(RateLimitError(text, body=message))
            if status >= 500:
                raise _Transient(ServerError(text, status_code=status, body=message))
            raise _CLIENT_ERRORS.get(status, ClientError)(text, status_code=status, body=message)
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RenderError(f"{operation}: the answer is not JSON ({exc}): {data[:200]!r}") from None

    async def _exchange(self, method: str, path: str, payload: bytes | None) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_unix_connection(self.socket_path)
        try:
            connection = h11.Connection(our_role=h11.CLIENT)
            headers = [
                ("Host", "localhost"),
                ("User-Agent", self._user_agent),
                ("Accept", "application/json"),
                ("Connection", "close"),
            ]
            if payload is not None:
                headers += [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
            outgoing = connection.send(h11.Request(method=method, target=path, headers=headers))
            if payload is not None:
                outgoing += connection.send(h11.Data(data=payload))
            outgoing += connection.send(h11.EndOfMessage())
            writer.write(outgoing)
            await writer.drain()
            status: int | None = None
            body = bytearray()
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(await reader.read(_MAX_READ))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    break
            if status is None:
                raise ConnectionResetError("the connection closed before an answer")
            return status, bytes(body)
        finally:
            writer.close()
            with contextlib.suppress(OSError):  # Reset by the server: the answer, if any, is complete.
                await writer.wait_closed()


def _error_message(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return text or "(no body)"
    if isinstance(parsed, dict):
        for key in ("message", "error"):
            if isinstance(parsed.get(key), str):
                return str(parsed[key])
    return text
