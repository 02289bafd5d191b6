"""Exceptions raised by the Render client, and by subtask calls inside a worker.

The hierarchy::

    RenderError                      base class of every SDK exception
    ├── ClientError                  a 4xx answer: the request was wrong
    │   ├── BadRequestError          400
    │   ├── AuthenticationError      401: missing or invalid API key
    │   ├── PermissionDeniedError    403
    │   ├── NotFoundError            404
    │   ├── ConflictError            409
    │   ├── UnprocessableEntityError 422
    │   └── RateLimitError           429, with ``retry_after``
    ├── ServerError                  a 5xx answer, or the server could not be reached
    ├── TimeoutError                 a request timed out (also a builtin ``TimeoutError``)
    └── TaskRunError                 an awaited task run (or subtask) failed
        └── TaskRunCanceledError     an awaited task run was canceled

Every error carries ``status_code`` (None when there was no HTTP answer), ``message``, ``error_id`` (the
server's error or request id, when it sent one), ``code`` (the error body's machine-readable ``code``, when it
has one) and ``body`` (the parsed JSON error body, or its raw text when it was not JSON). A
:class:`TaskRunError` also carries the run's ``details`` and ``error``.

:func:`error_from_answer` is the SDK's only table from HTTP status to exception: the REST client, the worker's
callback transport and the event-stream code all use it. :func:`is_transient` says which are worth retrying.

This module imports nothing beyond the standard library: worker processes import :class:`TaskRunError` from it
without pulling in the HTTP client.
"""

from __future__ import annotations

import builtins
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from render_sdk.client.types import TaskRunDetails

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ClientError",
    "ConflictError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RenderError",
    "ServerError",
    "TaskRunCanceledError",
    "TaskRunError",
    "TimeoutError",
    "UnprocessableEntityError",
    "error_from_answer",
    "is_transient",
]


class RenderError(Exception):
    """Base class for all SDK exceptions."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_id: str | None = None,
        body: Any = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_id = error_id
        self.body = body
        self.code = code

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status_code={self.status_code!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments are not restored by the default pickling of exceptions.
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[RenderError], message: str, state: dict[str, Any]) -> RenderError:
    error = cls.__new__(cls, message)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class ClientError(RenderError):
    """The API answered 4xx: the request was wrong (bad arguments, invalid key, unknown id...)."""


class BadRequestError(ClientError):
    """The API answered 400 Bad Request."""


class AuthenticationError(ClientError):
    """The API answered 401 Unauthorized: the API key is missing or invalid."""


class PermissionDeniedError(ClientError):
    """The API answered 403 Forbidden: the API key may not access this resource."""


class NotFoundError(ClientError):
    """The API answered 404 Not Found."""


class ConflictError(ClientError):
    """The API answered 409 Conflict."""


class UnprocessableEntityError(ClientError):
    """The API answered 422 Unprocessable Entity."""


class RateLimitError(ClientError):
    """The API answered 429 Too Many Requests; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = 429,
        error_id: str | None = None,
        body: Any = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, error_id=error_id, body=body, code=code)
        self.retry_after = retry_after


class ServerError(RenderError):
    """The API answered 5xx, or could not be reached at all (connection refused, reset, bad protocol)."""


class TimeoutError(RenderError, builtins.TimeoutError):  # the seed's public name
    """A request, or waiting for a task run, took longer than its timeout."""


class TaskRunError(RenderError):
    """An awaited task run, or a subtask called from a task, finished without success."""

    def __init__(
        self,
        message: str,
        details: TaskRunDetails | None = None,
        error: str | None = None,
        *,
        status_code: int | None = None,
        error_id: str | None = None,
        body: Any = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, error_id=error_id, body=body, code=code)
        self.details = details
        self.error = error if error is not None else getattr(details, "error", None)

    @property
    def task_run_id(self) -> str | None:
        """The id of the run that failed, when its details are known."""
        return getattr(self.details, "id", None)


class TaskRunCanceledError(TaskRunError):
    """An awaited task run was canceled before it finished."""


_STATUS_ERRORS: dict[int, type[ClientError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_from_answer(
    label: str,
    status_code: int,
    content: bytes | str,
    *,
    reason: str = "",
    retry_after: float | None = None,
) -> RenderError:
    """The exception for a non-2xx HTTP answer, from its status and raw body (JSON or not).

    Args:
        label: What was being done, e.g. ``"get_task_run"``; the message starts with it.
        status_code: The answer's status.
        content: The answer's body as received.
        reason: The status line's reason phrase, used when the body says nothing.
        retry_after: The answer's ``Retry-After`` in seconds, for a 429.
    """
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    body: Any
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    message = error_id = code = None
    if isinstance(body, dict):
        message = body.get("message") or body.get("error")
        error_id = body.get("id")
        code = body.get("code")
    if not isinstance(message, str) or not message:
        snippet = body.strip()[:200] if isinstance(body, str) else ""
        message = snippet or reason or "no message"
    summary = f"{label} failed with HTTP {status_code}: {message}"
    error_id = error_id if isinstance(error_id, str) and error_id else None
    if error_id is not None:
        summary += f" (error id {error_id})"
    fields: dict[str, Any] = {
        "status_code": status_code,
        "error_id": error_id,
        "body": body,
        "code": code if isinstance(code, str) and code else None,
    }
    if status_code == 429:
        return RateLimitError(summary, retry_after=retry_after, **fields)
    if status_code in _STATUS_ERRORS:
        return _STATUS_ERRORS[status_code](summary, **fields)
    if 400 <= status_code < 500:
        return ClientError(summary, **fields)
    if status_code >= 500:
        return ServerError(summary, **fields)
    return RenderError(f"{label} got an unexpected HTTP {status_code}", **fields)


def is_transient(error: RenderError) -> bool:
    """Whether trying the same request again later may succeed: 408, 429, 5xx, timeouts, no answer at all.

    This is the SDK's only retryable set: request retries, event-stream reconnects and waits all use it.
    """
    return isinstance(error, (RateLimitError, ServerError, TimeoutError)) or error.status_code == 408
