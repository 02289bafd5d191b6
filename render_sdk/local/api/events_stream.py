"""``GET /v1/task-runs/events``: one terminal event per requested run, as server-sent events.

On subscribe, the terminal event of every requested run that already finished is replayed (canceled ones too),
then live events follow; an attempt that will be retried produces no event, because the state machine only
announces final states. Event ids are the store's event sequence numbers, which only grow (across restarts
too), so a client that reconnects with ``Last-Event-ID`` gets only what it missed. Every event is named
``task.completed`` (the name both official clients accept) and carries TaskRunDetails; the outcome is in its
``status``. Like Render's, the stream stays open after the last event until the client leaves (or the server
stops), with heartbeat comments while it is idle: a client that reads "until you break" (the TypeScript SDK's
``taskRunEvents()``) would otherwise reconnect and be sent the replay again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from render_sdk._protocol.strict_json import dumps
from render_sdk.local.api.errors import ApiError
from render_sdk.local.api.models import task_run_details_model
from render_sdk.local.engine.events import EventBus
from render_sdk.local.engine.records import TERMINAL_STATUSES
from render_sdk.local.engine.store import Store

__all__ = ["EVENT_NAME", "stream_task_run_events"]

EVENT_NAME = "task.completed"
RECONNECT_MILLISECONDS = 2000


async def stream_task_run_events(
    request: Request, store: Store, bus: EventBus, heartbeat_seconds: float, closing: asyncio.Event
) -> Response:
    """Open the event stream for the runs named by ``taskRunIds`` (repeated or comma-joined).

    The stream also ends once ``closing`` is set (the server is stopping); the client reconnects elsewhere or
    later with ``Last-Event-ID``, and misses nothing.

    Raises:
        ApiError: 400 without ``taskRunIds`` or with a malformed ``Last-Event-ID``, 404 for an unknown run.
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
    unknown = [run_id for run_id in run_ids if store.get_run(run_id) is None]
    if unknown:
        raise ApiError(404, f"task run(s) not found: {', '.join(unknown)}")
    raw_last = request.headers.get("last-event-id", "").strip()
    try:
        last_event_id = int(raw_last) if raw_last else 0
    except ValueError:
        raise ApiError(
            400, f"Last-Event-ID must be an event id sent by this stream, got {raw_last!r}"
        ) from None

    async def frames() -> AsyncIterator[str]:
        subscription = bus.subscribe(run_ids)
        try:
            yield f"retry: {RECONNECT_MILLISECONDS}\n\n"
            waiting = set(run_ids)
            replay = []
            for run_id in run_ids:
                run = store.get_run(run_id)
                if run is None or run.status not in TERMINAL_STATUSES or run.terminal_seq is None:
                    continue
                waiting.discard(run_id)
                if run.terminal_seq > last_event_id:
                    replay.append((run.terminal_seq, run_id))
            for event_seq, run_id in sorted(replay):
                yield _frame(store, event_seq, run_id)
            while True:
                event = await _next_event(subscription.queue, closing, heartbeat_seconds)
                if event is _CLOSING:
                    return
                if event is None:
                    yield ": ping\n\n"
                    continue
                event_seq, run_id = event
                if run_id in waiting:
                    waiting.discard(run_id)
                    yield _frame(store, event_seq, run_id)
        finally:
            subscription.close()

    return StreamingResponse(
        frames(),
        media_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"},
    )


_CLOSING = (-1, "")


async def _next_event(
    queue: asyncio.Queue[tuple[int, str]], closing: asyncio.Event, timeout: float
) -> tuple[int, str] | None:
    """The next event; None after ``timeout`` seconds without one; ``_CLOSING`` once ``closing`` is set."""
    if closing.is_set():
        return _CLOSING
    getter = asyncio.ensure_future(queue.get())
    closer = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait({getter, closer}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closer.cancel()
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    return _CLOSING if closing.is_set() else None


def _frame(store: Store, event_seq: int, run_id: str) -> str:
    run = store.get_run(run_id)
    assert run is not None
    details = task_run_details_model(run, store.attempts(run_id)).to_dict()
    data = dumps(details)
    return f"id: {event_seq}\nevent: {EVENT_NAME}\ndata: {data}\n\n"
