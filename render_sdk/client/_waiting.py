"""What the event stream means, I/O-free: which events end a run, how a finished run turns into a result or
an exception, and what a failed stream connection means (reconnect, poll instead, or give up). Every stream
consumer shares these rules, through :class:`render_sdk.client._stream_cursor.StreamCursor`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, SSEError

from render_sdk.client._request_core import HTTPX_ERRORS, error_from_transport
from render_sdk.client.errors import RenderError, TaskRunCanceledError, TaskRunError, is_transient
from render_sdk.client.types import (
    ResponseFormatError,
    TaskRunDetails,
    TaskRunEvent,
    is_success,
    is_terminal,
    parse_task_run_details,
)

__all__ = [
    "STREAM_ERRORS",
    "TERMINAL_EVENTS",
    "EventsUnavailable",
    "Finished",
    "ServerTraits",
    "StreamFailure",
    "classify_stream_error",
    "ended_by_terminal",
    "finishes_run",
    "outcome",
    "parse_event",
    "stream_failure",
]


#: A finished run and the name of the event that reported it (None when a GET found it).
Finished = tuple[TaskRunDetails, "str | None"]

#: Event names that always mean the run finished; the payload's status says how.
TERMINAL_EVENTS = frozenset({"task.completed", "task.succeeded", "task.failed", "task.canceled"})
# Statuses the events endpoint answers when it does not exist on this server: waiting falls back to polling.
_UNAVAILABLE_STATUS = frozenset({404, 405, 501})
_KNOWN_STATUSES = frozenset({"pending", "running", "paused", "completed", "succeeded", "failed", "canceled"})


class ServerTraits:
    """What a client learned about its server, kept for the client's lifetime."""

    def __init__(self) -> None:
        #: The server has no usable events endpoint: waits poll with GET from then on.
        self.events_unavailable = False


class EventsUnavailable(RenderError):
    """The server has no usable event stream: waits poll with GET instead, ``task_run_events`` raises it."""


class StreamFailure(Exception):
    """The stream dropped or could not be opened for a reason worth a reconnect; ``retry_after`` is a hint."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


#: What following a stream may raise besides a definite RenderError; :func:`stream_failure` says what each
#: one means.
STREAM_ERRORS: tuple[type[Exception], ...] = (StreamFailure, SSEError, *HTTPX_ERRORS)


def parse_event(sse: ServerSentEvent) -> TaskRunEvent | None:
    """The event as a :class:`TaskRunEvent`, or None when it is not about a task run (``retry:`` frames...).

    Raises:
        ResponseFormatError: a ``task.*`` event whose data is not a TaskRunDetails object.
    """
    if not sse.event.startswith("task."):
        return None
    try:
        data: Any = json.loads(sse.data)
    except json.JSONDecodeError as exc:
        raise ResponseFormatError(f"{sse.event} event data is not JSON: {sse.data[:200]!r}") from exc
    return TaskRunEvent(event=sse.event, id=sse.id or None, details=parse_task_run_details(data, sse.event))


def finishes_run(event: TaskRunEvent) -> bool:
    """Whether the event reports the end of its run.

    A terminal status always counts. A status this SDK does not know counts only under one of the terminal
    event names, so a new intermediate status never ends a wait early and a new final one never hangs it.
    """
    status = str(event.details.status)
    if is_terminal(status):
        return True
    return status not in _KNOWN_STATUSES and event.event in TERMINAL_EVENTS


def outcome(details: TaskRunDetails, event: str | None = None) -> TaskRunDetails:
    """Return the details of a successful run; raise :class:`TaskRunError` for a failed or canceled one.

    Args:
        details: A finished run.
        event: The event name that reported it, used only when the status is one this SDK does not know.
    """
    status = str(details.status)
    if is_success(status):
        return details
    if status not in _KNOWN_STATUSES:
        status = {"task.failed": "failed", "task.canceled": "canceled"}.get(event or "", "")
        if not status:
            if not details.error:
                return details
            status = "failed"
    if status == "canceled":
        raise TaskRunCanceledError(f"Task run {details.id} was canceled", details, details.error)
    reason = details.error or f"status {details.status}"
    raise TaskRunError(f"Task run {details.id} failed: {reason}", details, details.error)


def classify_stream_error(error: RenderError) -> Exception:
    """What a non-2xx answer from the events endpoint (or a failed re-check GET) means for waiting.

    Returns :class:`EventsUnavailable` (fall back to polling), a :class:`StreamFailure` (reconnect later:
    the error is transient, see :func:`render_sdk.client.errors.is_transient`), or ``error`` itself when
    waiting cannot succeed (a bad key, forbidden, an unknown run).
    """
    if error.status_code in _UNAVAILABLE_STATUS:
        return EventsUnavailable(
            str(error),
            status_code=error.status_code,
            error_id=error.error_id,
            body=error.body,
            code=error.code,
        )
    if is_transient(error):
        return StreamFailure(str(error), getattr(error, "retry_after", None))
    return error


def stream_failure(exc: Exception) -> Exception:
    """What an exception raised while following a stream (one of :data:`STREAM_ERRORS`) means.

    Returns a :class:`StreamFailure` (reconnect later), :class:`EventsUnavailable` (the answer was not an
    event stream), or a :class:`RenderError` for a request that cannot succeed (a URL httpx refuses).
    """
    if isinstance(exc, StreamFailure):
        return exc
    if isinstance(exc, SSEError):
        return EventsUnavailable(f"task run events: the answer was not an event stream: {exc}")
    if isinstance(exc, httpx.ReadTimeout):
        # Only an idle stream times out on a read: no event and no heartbeat arrived.
        return StreamFailure("the event stream was idle for too long (no heartbeat)")
    return classify_stream_error(error_from_transport("task run events", exc))


def ended_by_terminal(details: TaskRunDetails) -> bool:
    """Whether a GET result shows the run finished."""
    return is_terminal(str(details.status))
