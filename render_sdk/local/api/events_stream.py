"""``GET /v1/task-runs/events``: one terminal event per requested run, as server-sent events.

On subscribe, the terminal event of every requested run that already finished is replayed (canceled ones too),
then live events follow; an attempt that will be retried produces no event, because the state machine only
announces final states. Event ids are the store's event sequence numbers, which only grow (across restarts
too), so a client that reconnects with ``Last-Event-ID`` gets only what it missed. Every event is named
``task.completed`` (the name both official clients accept) and carries TaskRunDetails; the outcome is in its
``status``. Like Render's, the stream stays open after the last event until the client leaves (or the server
stops), with heartbeat comments while it is idle: a client that reads "until you break" (the TypeScript SDK's
``taskRunEvents()``) would otherwise reconnect and be sent the replay again.

A finished run never changes again, so its event is encoded once (:class:`TerminalEvents`) however many
streams send it. A stream is one task (reading the client's disconnect) besides the request's own, woken
through its :class:`~render_sdk.local.engine.events.Subscription` by events, the disconnect, the server
stopping or the heartbeat timer.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from render_sdk._protocol.strict_json import dumps
from render_sdk.local.api.errors import ApiError
from render_sdk.local.api.models import task_run_details_model
from render_sdk.local.engine.events import EventBus, Subscription
from render_sdk.local.engine.records import TERMINAL_STATUSES, RunRecord
from render_sdk.local.engine.store import Store

__all__ = ["EVENT_NAME", "EventStreams", "TerminalEvents"]

EVENT_NAME = "task.completed"
RECONNECT_MILLISECONDS = 2000
EVENTS_KEPT = 2000
_HEADERS = {"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"}


class TerminalEvents:
    """The encoded terminal event of each finished run, for the :data:`EVENTS_KEPT` most recently sent."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._kept: collections.OrderedDict[str, bytes] = collections.OrderedDict()

    def of(self, run_id: str, run: RunRecord | None = None) -> bytes | None:
        """The event of finished run ``run_id`` (``run``, if the caller has it); None if it is unfinished."""
        event = self._kept.get(run_id)
        if event is not None:
            self._kept.move_to_end(run_id)
            return event
        run = run if run is not None else self._store.get_run(run_id)
        if run is None or run.status not in TERMINAL_STATUSES or run.terminal_seq is None:
            return None
        details = task_run_details_model(run, self._store.attempts(run_id)).to_dict()
        event = f"id: {run.terminal_seq}\nevent: {EVENT_NAME}\ndata: {dumps(details)}\n\n".encode()
        self._kept[run_id] = event
        if len(self._kept) > EVENTS_KEPT:
            self._kept.popitem(last=False)
        return event


class EventStreams:
    """Opens the event streams of one app; once ``closing`` is set, open streams end and new ones end at once.

    Args:
        store: The runs.
        bus: Where terminal events are published.
        heartbeat_seconds: How often an idle stream gets a comment.
        closing: Set when the server is stopping.
    """

    def __init__(self, store: Store, bus: EventBus, heartbeat_seconds: float, closing: asyncio.Event) -> None:
        self._store = store
        self._bus = bus
        self._events = TerminalEvents(store)
        self._heartbeat = heartbeat_seconds
        self._closing = closing
        self._open: set[Subscription] = set()
        self._closing_watch: asyncio.Task[Literal[True]] | None = None

    async def open(self, request: Request) -> Response:
        """Open the event stream for the runs named by ``taskRunIds`` (repeated or comma-joined).

        The stream ends once ``closing`` is set; the client reconnects elsewhere or later with
        ``Last-Event-ID``, and misses nothing.

        Raises:
            ApiError: 400 without ``taskRunIds`` or with a malformed ``Last-Event-ID``; 404 for unknown runs.
        """
        run_ids = list(
            dict.fromkeys(
                part.strip()
                for raw in request.query_params.getlist("taskRunIds")
                for part in raw.split(",")
                if part.strip()
            )
        )
        if not run_ids:
            raise ApiError(400, "taskRunIds is required: name the runs to follow, e.g. ?taskRunIds=trn-...")
        raw_last = request.headers.get("last-event-id", "").strip()
        try:
            last_event_id = int(raw_last) if raw_last else 0
        except ValueError:
            raise ApiError(
                400, f"Last-Event-ID must be an event id sent by this stream, got {raw_last!r}"
            ) from None
        # Subscribed before the runs are read, so that no run can finish unseen in between.
        subscription = self._bus.subscribe(run_ids)
        runs = [self._store.get_run(run_id) for run_id in run_ids]
        unknown = [run_id for run_id, run in zip(run_ids, runs, strict=True) if run is None]
        if unknown:
            subscription.close()
            raise ApiError(404, f"task run(s) not found: {', '.join(unknown)}")
        replay: list[tuple[int, bytes]] = []
        waiting = set(run_ids)
        for run in runs:
            assert run is not None
            event = self._events.of(run.id, run)
            if event is not None and run.terminal_seq is not None:
                waiting.discard(run.id)
                if run.terminal_seq > last_event_id:
                    replay.append((run.terminal_seq, event))
        opening = f"retry: {RECONNECT_MILLISECONDS}\n\n".encode()
        opening += b"".join(event for _, event in sorted(replay))
        return _EventStream(self, subscription, opening, waiting)

    async def serve(
        self, subscription: Subscription, waiting: set[str], send: Send, disconnected: asyncio.Future[None]
    ) -> None:
        """Send the live events of the runs still ``waiting``, and heartbeats, until the stream ends."""
        self._watch_closing()
        self._open.add(subscription)
        try:
            while not self._closing.is_set() and not disconnected.done():
                events = subscription.take()
                if not events:
                    await subscription.wait(self._heartbeat)
                    events = subscription.take()
                    if not events:
                        if not self._closing.is_set() and not disconnected.done():
                            await _send_body(send, b": ping\n\n")
                        continue
                chunk = b""
                for _, run_id in events:
                    if run_id in waiting:
                        event = self._events.of(run_id)
                        if event is not None:
                            waiting.discard(run_id)
                            chunk += event
                if chunk:
                    await _send_body(send, chunk)
        finally:
            self._open.discard(subscription)

    def _watch_closing(self) -> None:
        """One task per event loop wakes every open stream once ``closing`` is set."""
        loop = asyncio.get_running_loop()
        if self._closing_watch is None or self._closing_watch.get_loop() is not loop:
            watch = self._closing_watch = loop.create_task(self._closing.wait())
            watch.add_done_callback(self._wake_all)

    def _wake_all(self, _: asyncio.Task[Literal[True]]) -> None:
        for subscription in list(self._open):
            subscription.wake()


class _EventStream(Response):
    """The streaming response: its opening (retry and replay), then :meth:`EventStreams.serve`."""

    media_type = "text/event-stream; charset=utf-8"

    def __init__(
        self, streams: EventStreams, subscription: Subscription, opening: bytes, waiting: set[str]
    ) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers(_HEADERS)  # no body set: no Content-Length, so the stream is chunked
        self._streams = streams
        self._subscription = subscription
        self._opening = opening
        self._waiting = waiting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscription = self._subscription
        disconnected = asyncio.ensure_future(_until_disconnect(receive))
        disconnected.add_done_callback(subscription.wake_on)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await _send_body(send, self._opening)
            await self._streams.serve(subscription, self._waiting, send, disconnected)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            disconnected.remove_done_callback(subscription.wake_on)
            disconnected.cancel()
            subscription.close()


async def _send_body(send: Send, body: bytes) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
