"""What the event stream means, I/O-free: which events end a run, how a finished run turns into a result or
an exception, and how a failed stream connection is classified. The async event hub and the sync waiter
share these rules.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from render_sdk.client._transport import error_from_response
from render_sdk.client.errors import ClientError, RenderError, TaskRunCanceledError, TaskRunError
from render_sdk.client.types import (
    ResponseFormatError,
    TaskRunDetails,
    TaskRunEvent,
    is_success,
    is_terminal,
    parse_task_run_details,
)

__all__ = [
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
    "parse_event_or_skip",
    "stream_error",
    "transport_failure",
]

logger = logging.getLogger("render_sdk.client")

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


class EventsUnavailable(Exception):
    """The server has no usable event stream; poll with GET instead."""


class StreamFailure(Exception):
    """The stream dropped or could not be opened for a reason worth a reconnect; ``retry_after`` is a hint."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


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


def parse_event_or_skip(sse: ServerSentEvent) -> TaskRunEvent | None:
    """Like :func:`parse_event`, but a malformed event is logged and skipped (None)."""
    try:
        return parse_event(sse)
    except ResponseFormatError as exc:
        logger.warning("ignoring a malformed task run event: %s", exc)
        return None


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
    """What a non-2xx answer from the events endpoint means for waiting.

    Returns :class:`EventsUnavailable` (fall back to polling), a :class:`StreamFailure` (reconnect later),
    or ``error`` itself when waiting cannot succeed (a bad key, forbidden, malformed request).
    """
    status = error.status_code
    if status in _UNAVAILABLE_STATUS:
        return EventsUnavailable(str(error))
    if status is None or status in (408, 429) or status >= 500:
        return StreamFailure(str(error), getattr(error, "retry_after", None))
    if isinstance(error, ClientError):
        return error
    return StreamFailure(str(error))


def stream_error(response: httpx.Response) -> Exception:
    """What to raise for a non-2xx answer (already read) from the events endpoint when following events."""
    error = error_from_response("task run events", response)
    meaning = classify_stream_error(error)
    return meaning if isinstance(meaning, StreamFailure) else error


def transport_failure(exc: httpx.HTTPError) -> StreamFailure:
    """A dropped or idle connection (an idle one shows up as a read timeout: no heartbeat arrived)."""
    if isinstance(exc, httpx.ReadTimeout):
        return StreamFailure("the event stream was idle for too long (no heartbeat)")
    return StreamFailure(f"the event stream dropped: {type(exc).__name__}: {exc}")


def ended_by_terminal(details: TaskRunDetails) -> bool:
    """Whether a GET result shows the run finished."""
    return is_terminal(str(details.status))
