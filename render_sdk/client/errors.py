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
server's error or request id, when it sent one) and ``body`` (the parsed JSON error body, or its raw text when
it was not JSON). A :class:`TaskRunError` also carries the run's ``details`` and ``error``.

This module imports nothing beyond the standard library: worker processes import :class:`TaskRunError` from it
without pulling in the HTTP client.
"""

from __future__ import annotations

import builtins
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
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_id = error_id
        self.body = body

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
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, error_id=error_id, body=body)
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
    ) -> None:
        super().__init__(message, status_code=status_code, error_id=error_id, body=body)
        self.details = details
        self.error = error if error is not None else getattr(details, "error", None)

    @property
    def task_run_id(self) -> str | None:
        """The id of the run that failed, when its details are known."""
        return getattr(self.details, "id", None)


class TaskRunCanceledError(TaskRunError):
    """An awaited task run was canceled before it finished."""
