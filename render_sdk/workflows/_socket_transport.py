"""The callback API over the worker's Unix socket, for asyncio code (run mode: the task and its subtasks).

The HTTP exchange and the retry decisions are :mod:`render_sdk.workflows._http`'s; this module only moves the
bytes, on the event loop. Its blocking twin is :mod:`render_sdk.workflows._sync_socket_transport`.
"""

from __future__ import annotations

import asyncio
import builtins
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from render_sdk.workflows._http import MAX_READ, Exchange, ProtocolError, Request, SocketSettings, Transient

__all__ = ["SocketTransport"]


class SocketTransport(SocketSettings):
    """Sends JSON requests to the callback API on ``socket_path``, on the event loop.

    Takes :class:`~render_sdk.workflows._http.SocketSettings`' arguments, and ``sleep``: how to wait
    between attempts (``asyncio.sleep``; a test passes its own to watch the retries).
    """

    def __init__(
        self,
        socket_path: str,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **settings: float,
    ) -> None:
        super().__init__(socket_path, **settings)
        self.sleep = sleep

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
        request = self.new_request(operation, method, path, body)
        while True:
            try:
                return request.answer(await self._attempt(request))
            except Transient as failure:
                delay = request.retry_delay(failure)
            await self.sleep(delay)

    async def _attempt(self, request: Request) -> Exchange:
        try:
            return await asyncio.wait_for(self._exchange(request), self.request_timeout)
        except (asyncio.TimeoutError, builtins.TimeoutError):
            raise request.timed_out(self.request_timeout) from None
        except (OSError, ProtocolError) as exc:
            raise request.unreachable(exc) from None

    async def _exchange(self, request: Request) -> Exchange:
        exchange = request.exchange()
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.setblocking(False)
            await loop.sock_connect(sock, self.socket_path)
            await loop.sock_sendall(sock, exchange.outgoing)
            while not exchange.receive(await loop.sock_recv(sock, MAX_READ)):
                pass
            return exchange
