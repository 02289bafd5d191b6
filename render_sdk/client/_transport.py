"""The I/O-free half of talking HTTP: headers, status-to-exception mapping and retry decisions.

The async and sync clients call these around their own ``send``; the only thing they differ in is how they
wait (``asyncio.sleep`` or ``time.sleep``) and how they read bytes.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Generator
from typing import Any

import httpx

from render_sdk._version import user_agent
from render_sdk.client._config import ClientConfig
from render_sdk.client._operations import Operation
from render_sdk.client.errors import (
    RenderError,
    ServerError,
    TimeoutError,
    error_from_answer,
)
from render_sdk.client.types import ResponseFormatError

__all__ = [
    "BearerAuth",
    "backoff",
    "client_kwargs",
    "error_from_response",
    "error_from_transport",
    "parse_success",
    "request_args",
    "retry_after",
    "retry_delay",
    "stream_timeout",
]

#: Backoff: the first retry waits about INITIAL_DELAY seconds, doubling up to MAX_DELAY.
INITIAL_DELAY = 0.5
MAX_DELAY = 30.0
#: A Retry-After longer than this is not waited out: the error goes to the caller with ``retry_after`` set.
MAX_RETRY_AFTER = 60.0

_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Answers that prove POST /task-runs created nothing: throttled before or refused by an unavailable service.
_NOT_CREATED_STATUS = frozenset({429, 503})


class BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer <token>`` to every request; its ``repr`` never shows the token."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"


#: Connections per client. Many concurrent requests share them; more only adds work: httpcore matches every
#: waiting request against every connection.
CONNECTION_POOL_SIZE = 20


def client_kwargs(config: ClientConfig) -> dict[str, Any]:
    """Keyword arguments for ``httpx.Client``/``httpx.AsyncClient``: base URL, auth, headers, timeouts."""
    timeouts = config.timeouts
    return {
        "base_url": config.api_root + "/",
        "auth": BearerAuth(config.token) if config.token else None,
        "headers": {"User-Agent": user_agent(), "Accept": "application/json"},
        "timeout": httpx.Timeout(
            connect=timeouts.connect, read=timeouts.read, write=timeouts.write, pool=timeouts.pool
        ),
        "follow_redirects": False,
        "limits": httpx.Limits(
            max_connections=CONNECTION_POOL_SIZE, max_keepalive_connections=CONNECTION_POOL_SIZE
        ),
    }


def stream_timeout(config: ClientConfig) -> httpx.Timeout:
    """Timeouts for the event stream: a read waits up to ``stream_idle`` for the next event or heartbeat."""
    timeouts = config.timeouts
    return httpx.Timeout(
        connect=timeouts.connect, read=timeouts.stream_idle, write=timeouts.write, pool=timeouts.pool
    )


def request_args(operation: Operation[Any]) -> dict[str, Any]:
    """Arguments for ``client.build_request`` (paths are relative to the API root)."""
    args: dict[str, Any] = {"method": operation.method, "url": operation.path.lstrip("/")}
    if operation.params:
        args["params"] = list(operation.params)
    if operation.body is not None:
        args["content"] = operation.body.encode()
        args["headers"] = {"Content-Type": "application/json"}
    return args


def error_from_response(label: str, response: httpx.Response) -> RenderError:
    """The exception for a non-2xx answer whose body has been read; works for any body, JSON or not."""
    return error_from_answer(
        label,
        response.status_code,
        response.content,
        reason=response.reason_phrase,
        retry_after=retry_after(response) if response.status_code == 429 else None,
    )


def error_from_transport(label: str, exc: httpx.HTTPError) -> RenderError:
    """The exception for a request that got no (complete) HTTP answer."""
    if isinstance(exc, httpx.TimeoutException):
        return TimeoutError(f"{label} timed out ({type(exc).__name__})")
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)):
        return ServerError(f"{label} failed: could not reach the API ({type(exc).__name__}: {exc})")
    return RenderError(f"{label} failed: {type(exc).__name__}: {exc}")


def parse_success(operation: Operation[Any], response: httpx.Response) -> Any:
    """Decode a 2xx body and run the operation's parser; a malformed body is a RenderError, not a crash."""
    if not response.content:
        data = None
    else:
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RenderError(
                f"{operation.label}: the API answered HTTP {response.status_code} with a non-JSON body",
                status_code=response.status_code,
                body=response.text[:2000],
            ) from exc
    try:
        return operation.parse(data)
    except ResponseFormatError as exc:
        raise RenderError(
            f"{operation.label}: unexpected response body: {exc}",
            status_code=response.status_code,
            body=data,
        ) from exc


def retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def backoff(attempt: int) -> float:
    """Capped exponential backoff with jitter for retry number ``attempt`` (0-based)."""
    delay: float = min(MAX_DELAY, INITIAL_DELAY * 2**attempt)
    # Jitter spreads the retries of many clients that failed at the same moment.
    return delay * (0.75 + random.random() * 0.25)


def retry_delay(
    operation: Operation[Any],
    attempt: int,
    error: RenderError,
    cause: BaseException | None,
    max_retries: int,
    hint: float | None = None,
) -> float | None:
    """Seconds to wait before retrying ``operation`` after ``error``, or None to give up and raise it.

    Args:
        operation: The request that failed.
        attempt: How many retries were already made.
        error: The mapped error.
        cause: The httpx exception when there was no HTTP answer, else None.
        max_retries: The client's retry budget.
        hint: The answer's ``Retry-After`` in seconds, if it had one.

    A request that creates a run is retried only when it provably created nothing: the connection never
    carried it, or the API answered 429 or 503.
    """
    if attempt >= max_retries:
        return None
    status = error.status_code
    if status is not None:
        retryable = status in (_NOT_CREATED_STATUS if operation.creates_run else _RETRYABLE_STATUS)
    elif operation.creates_run:
        retryable = isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    else:
        retryable = isinstance(cause, httpx.TransportError) and not isinstance(
            cause, (httpx.UnsupportedProtocol, httpx.ProxyError)
        )
    if not retryable:
        return None
    if hint is not None:
        return hint if hint <= MAX_RETRY_AFTER else None
    return backoff(attempt)
