"""The I/O-free core of every REST request: how it is built, what its answer means, whether to retry.

:func:`exchange` is a request's whole life as a plan: it yields :class:`Send` (send these request arguments
and give me the answer or the httpx exception) and :class:`Pause` (sleep this long), and returns the parsed
result or raises the mapped :class:`~render_sdk.client.errors.RenderError`. The async and sync clients only
carry out the steps (``await http.send`` or ``http.send``, ``asyncio.sleep`` or ``time.sleep``), in the way
httpx's own ``Auth.auth_flow`` generators serve both of its clients.

Status codes become exceptions through :func:`render_sdk.client.errors.error_from_answer` (the SDK's only
table) and an error is retried exactly when :func:`render_sdk.client.errors.is_transient` says so.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from render_sdk._version import user_agent
from render_sdk.client._config import ClientConfig
from render_sdk.client._operations import Operation
from render_sdk.client.errors import RenderError, ServerError, TimeoutError, error_from_answer, is_transient
from render_sdk.client.types import ResponseFormatError

__all__ = [
    "HTTPX_ERRORS",
    "MAX_DELAY",
    "BearerAuth",
    "Pause",
    "RequestPlan",
    "Send",
    "backoff",
    "client_kwargs",
    "error_from_response",
    "error_from_transport",
    "exchange",
    "stream_client_kwargs",
    "stream_timeout",
]

logger = logging.getLogger("render_sdk.client")
Result = TypeVar("Result")

#: Backoff: the first retry waits about INITIAL_DELAY seconds, doubling up to MAX_DELAY.
INITIAL_DELAY = 0.5
MAX_DELAY = 30.0
#: A Retry-After longer than this is not waited out: the error goes to the caller with ``retry_after`` set.
MAX_RETRY_AFTER = 60.0

#: Every exception httpx raises. ``InvalidURL`` and ``StreamError`` are not ``httpx.HTTPError``s; none of
#: these may reach a caller unwrapped.
HTTPX_ERRORS: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.StreamError,
    httpx.CookieConflict,
)

#: Connections per client for requests. Many concurrent requests share them; more only adds work: httpcore
#: matches every waiting request against every connection.
CONNECTION_POOL_SIZE = 20


class BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer <token>`` to every request; its ``repr`` never shows the token."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"


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


def stream_client_kwargs(config: ClientConfig) -> dict[str, Any]:
    """Like :func:`client_kwargs`, for the client that holds the shared event streams open.

    Each stream holds a connection for as long as it lasts, and many waits need several streams (see
    :func:`render_sdk.client._operations.split_for_streams`), so they get a pool of their own without a
    size limit: a long wait never takes a connection that requests need, and streams never queue.
    """
    return {
        **client_kwargs(config),
        "limits": httpx.Limits(max_connections=None, max_keepalive_connections=0),
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
        retry_after=retry_after(response),
    )


def error_from_transport(label: str, exc: Exception) -> RenderError:
    """The exception for a request that got no (complete) HTTP answer, from any of :data:`HTTPX_ERRORS`.

    Timeouts and failed connections are transient (a :class:`TimeoutError` or :class:`ServerError`); a
    request that cannot be sent at all (a URL too long, an unsupported scheme) is a plain
    :class:`RenderError`, which is not retried.
    """
    if isinstance(exc, httpx.TimeoutException):
        return TimeoutError(f"{label} timed out ({type(exc).__name__})")
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)):
        return ServerError(f"{label} failed: could not reach the API ({type(exc).__name__}: {exc})")
    return RenderError(f"{label} failed: {type(exc).__name__}: {exc}")


def parse_success(operation: Operation[Result], response: httpx.Response) -> Result:
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
    delay: float = min(MAX_DELAY, INITIAL_DELAY * 2 ** min(attempt, 32))
    # Jitter spreads the retries of many clients that failed at the same moment.
    return delay * (0.75 + random.random() * 0.25)


def retry_delay(attempt: int, error: RenderError, max_retries: int, hint: float | None) -> float | None:
    """Seconds to wait before retrying after ``error``, or None to give up and raise it.

    Every request is safe to repeat: reads and cancels by nature, starting a run because it carries an
    idempotency key (a repeated start returns the run the first one started).

    Args:
        attempt: How many retries were already made.
        error: The mapped error.
        max_retries: The client's retry budget.
        hint: The answer's ``Retry-After`` in seconds, if it had one.
    """
    if attempt >= max_retries or not is_transient(error):
        return None
    if hint is not None:
        return hint if hint <= MAX_RETRY_AFTER else None
    return backoff(attempt)


@dataclass(frozen=True)
class Send:
    """Step of a plan: send a request built from ``args``; answer with the response or the httpx exception."""

    args: dict[str, Any]


@dataclass(frozen=True)
class Pause:
    """Step of a plan: sleep ``seconds``, then resume the plan with None."""

    seconds: float


def exchange(operation: Operation[Result], max_retries: int) -> Generator[Send | Pause, Any, Result]:
    """The plan of one request with its retries (see the module docstring).

    After a :class:`Send` the client resumes the plan with the read response, or with the exception (one of
    :data:`HTTPX_ERRORS`) that sending raised.

    Raises:
        RenderError: The mapped error of the last answer, once it is not worth retrying.
    """
    args = request_args(operation)
    attempt = 0
    while True:
        answer = yield Send(args)
        if isinstance(answer, httpx.Response):
            if answer.is_success:
                return parse_success(operation, answer)
            cause: Exception | None = None
            error = error_from_response(operation.label, answer)
            hint = retry_after(answer)
        else:
            cause, error, hint = answer, error_from_transport(operation.label, answer), None
        delay = retry_delay(attempt, error, max_retries, hint)
        if delay is None:
            raise error from cause
        logger.info("retrying %s in %.2f s after: %s", operation.label, delay, error)
        yield Pause(delay)
        attempt += 1


class RequestPlan(Generic[Result]):
    """:func:`exchange` as an iterator of steps, the way both clients carry it out.

    ``for step in plan:`` sleep for a :class:`Pause`, and for a :class:`Send` hand the response (or the httpx
    exception) to :meth:`answer`; after the loop, :attr:`result` holds the parsed result. The loop raises the
    plan's RenderError.
    """

    def __init__(self, operation: Operation[Result], max_retries: int) -> None:
        self._steps = exchange(operation, max_retries)
        self._answer: httpx.Response | Exception | None = None
        self.result: Result

    def __iter__(self) -> RequestPlan[Result]:
        return self

    def __next__(self) -> Send | Pause:
        answer, self._answer = self._answer, None
        try:
            return self._steps.send(answer)
        except StopIteration as stop:
            self.result = stop.value
            raise StopIteration from None

    def answer(self, response: httpx.Response | Exception) -> None:
        """What sending the last :class:`Send` gave: the read response, or one of :data:`HTTPX_ERRORS`."""
        self._answer = response
