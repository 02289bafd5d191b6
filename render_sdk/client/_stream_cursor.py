"""Where following the event stream of some runs got to, I/O-free, for every stream consumer of the SDK.

``task_run_events`` (async and sync), the blocking ``wait()`` and each stream of the async client's event hub
keep one :class:`StreamCursor` across their reconnects: the runs still pending, the ``Last-Event-ID`` to send,
and the one reconnect rule. They differ only in how they read bytes and sleep.

The reconnect rule: a transient failure (a dropped, refused or idle connection, 408, 429, 5xx) is followed by
a reconnect, for as long as it takes (a wait is bounded by its own ``timeout``, not by a retry budget). A
connection that brought news of a pending run was healthy, so after it the cursor reconnects at once and
starts its backoff over; after any other failed connection it waits a capped exponential backoff (or the
server's ``Retry-After``). A definite answer (401, 403, a request that cannot be sent) is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from render_sdk.client._config import ClientConfig
from render_sdk.client._operations import EVENTS_PATH, events_query
from render_sdk.client._request_core import MAX_DELAY, backoff, error_from_response, stream_timeout
from render_sdk.client._waiting import (
    StreamFailure,
    classify_stream_error,
    finishes_run,
    parse_event,
    stream_failure,
)
from render_sdk.client.types import ResponseFormatError, TaskRunEvent

__all__ = ["StreamCursor"]

logger = logging.getLogger("render_sdk.client")


class StreamCursor:
    """The state of following the events of ``run_ids`` (see the module docstring).

    Attributes:
        pending: The runs whose end has not been seen; the event hub adds and removes runs as waits come
            and go.
        last_event_id: The id of the last event received, sent back as ``Last-Event-ID`` on a reconnect.
        missed_event: Set when a malformed ``task.*`` event was skipped: whatever it said is only visible to
            a GET now. The reader clears it.
    """

    def __init__(self, config: ClientConfig, run_ids: Iterable[str] = ()) -> None:
        self.pending = set(run_ids)
        self.last_event_id: str | None = None
        self.missed_event = False
        self._timeout = stream_timeout(config)
        self._failures = 0
        self._progressed = False

    @property
    def done(self) -> bool:
        """Whether every run the cursor follows has ended."""
        return not self.pending

    def connect_args(self, read_timeout: float | None = None) -> dict[str, Any]:
        """Keyword arguments for ``aconnect_sse``/``connect_sse``: one new connection for the pending runs.

        Args:
            read_timeout: A shorter read timeout than the idle limit, to wake up for a caller's deadline.
        """
        self._progressed = False
        timeout = self._timeout
        if read_timeout is not None:
            timeout = httpx.Timeout(
                connect=timeout.connect, read=read_timeout, write=timeout.write, pool=timeout.pool
            )
        return {
            "method": "GET",
            "url": EVENTS_PATH.lstrip("/"),
            "params": events_query(sorted(self.pending)),
            "headers": {"Last-Event-ID": self.last_event_id} if self.last_event_id else {},
            "timeout": timeout,
        }

    def opened(self, response: httpx.Response) -> None:
        """Check the stream's answer (its body already read when it is not a 2xx).

        Raises:
            StreamFailure: A transient refusal: reconnect later.
            EventsUnavailable: The server has no events endpoint.
            RenderError: Following cannot succeed (e.g. 401).
        """
        if not response.is_success:
            raise classify_stream_error(error_from_response("task run events", response))

    def read(self, sse: ServerSentEvent) -> TaskRunEvent | None:
        """The task run event in a frame, or None (comments, ``retry:`` frames, other or malformed events)."""
        if sse.id:
            self.last_event_id = sse.id
        try:
            event = parse_event(sse)
        except ResponseFormatError as exc:
            logger.warning("ignoring a malformed task run event: %s", exc)
            self.missed_event = True
            return None
        if event is not None and event.details.id in self.pending:
            self._progressed = True
        return event

    def ends_run(self, event: TaskRunEvent) -> bool:
        """Whether ``event`` ends one of the pending runs, which is then no longer pending."""
        if event.details.id not in self.pending or not finishes_run(event):
            return False
        self.pending.discard(event.details.id)
        return True

    def pause_after(self, exc: Exception | None) -> float:
        """Seconds to wait before reconnecting after a connection ended: by ``exc``, or by the server (None).

        Raises:
            EventsUnavailable: The answer was not an event stream.
            RenderError: ``exc`` is definite: reconnecting cannot help.
        """
        failure = stream_failure(exc) if exc is not None else StreamFailure("the event stream ended")
        if not isinstance(failure, StreamFailure):
            raise failure
        logger.info("task run event stream failed: %s", failure)
        if self._progressed:
            self._progressed = False
            self._failures = 0
            delay = 0.0 if failure.retry_after is None else failure.retry_after
        else:
            delay = backoff(self._failures) if failure.retry_after is None else failure.retry_after
            self._failures += 1
        return min(delay, MAX_DELAY)
