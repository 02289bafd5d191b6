"""The callback API over the worker's Unix socket, blocking: register mode, run mode outside an event loop.

The HTTP exchange and the retry decisions are :mod:`render_sdk.workflows._http`'s; this module only moves the
bytes, with plain blocking sockets. Its asyncio twin is :mod:`render_sdk.workflows._socket_transport`.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

from render_sdk.workflows._http import MAX_READ, Exchange, ProtocolError, Request, SocketSettings, Transient

__all__ = ["SyncSocketTransport"]


class SyncSocketTransport(SocketSettings):
    """Sends JSON requests to the callback API on ``socket_path``, blocking until the answer.

    Takes :class:`~render_sdk.workflows._http.SocketSettings`' arguments, and ``sleep``: how to wait
    between attempts (``time.sleep``; a test passes its own to watch the retries).
    """

    def __init__(
        self, socket_path: str, *, sleep: Callable[[float], None] = time.sleep, **settings: float
    ) -> None:
        super().__init__(socket_path, **settings)
        self.sleep = sleep

    def request(self, operation: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Send one request, retrying transient failures, and return the parsed JSON answer (None if empty).

        Raises the same errors as :meth:`render_sdk.workflows._socket_transport.SocketTransport.request`.
        """
        request = self.new_request(operation, method, path, body)
        while True:
            try:
                return request.answer(self._attempt(request))
            except Transient as failure:
                delay = request.retry_delay(failure)
            self.sleep(delay)

    def _attempt(self, request: Request) -> Exchange:
        exchange = request.exchange()
        deadline = time.monotonic() + self.request_timeout
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.request_timeout)
                sock.connect(self.socket_path)
                sock.sendall(exchange.outgoing)
                while True:
                    sock.settimeout(_remaining(deadline))  # The whole attempt has request_timeout.
                    if exchange.receive(sock.recv(MAX_READ)):
                        return exchange
        except TimeoutError:  # socket.timeout
            raise request.timed_out(self.request_timeout) from None
        except (OSError, ProtocolError) as exc:
            raise request.unreachable(exc) from None


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    return remaining
