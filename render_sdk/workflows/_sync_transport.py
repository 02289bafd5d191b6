"""The callback API over the worker's Unix socket, blocking (register mode, which needs no event loop).

The HTTP exchange and the retry decisions are :mod:`render_sdk.workflows._http`'s; this module only moves the
bytes, with plain sockets. Its asyncio twin is :mod:`render_sdk.workflows._transport`.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import h11

from render_sdk.workflows._http import (
    MAX_READ,
    REQUEST_TIMEOUT_SECONDS,
    RETRY_FOR_SECONDS,
    Exchange,
    Request,
    Transient,
)

__all__ = ["SyncCallbackTransport"]


class SyncCallbackTransport:
    """Sends JSON requests to the callback API on ``socket_path``, blocking until the answer.

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

    def request(self, operation: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Send one request, retrying transient failures, and return the parsed JSON answer (None if empty).

        Raises the same errors as :meth:`render_sdk.workflows._transport.CallbackTransport.request`.
        """
        request = Request(operation, method, path, body, self.socket_path, self.retry_for)
        while True:
            try:
                return request.answer(self._attempt(request))
            except Transient as failure:
                delay = request.retry_delay(failure)
            time.sleep(delay)

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
        except (OSError, h11.ProtocolError) as exc:
            raise request.unreachable(exc) from None


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    return remaining
