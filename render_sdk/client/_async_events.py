"""The async client's event hub: every ``await run`` on one client shares its event streams.

The hub keeps the set of runs somebody is waiting for, spread over as few streams as the URL length allows
(:func:`render_sdk.client._operations.split_for_streams`): a new wait joins the newest stream with room, or
opens one. A stream whose set grew reconnects with the new set once a burst of new waits has settled. On
every (re)connect, and after every failed attempt, a stream re-checks its runs with GET, so a terminal event
sent while no stream was open is never missed. Each stream keeps a
:class:`~render_sdk.client._stream_cursor.StreamCursor` (``Last-Event-ID``, the reconnect rule); a server
without the events endpoint is polled with GET instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import httpx
from httpx_sse import EventSource, aconnect_sse

from render_sdk.client._config import ClientConfig
from render_sdk.client._operations import MAX_EVENTS_QUERY_BYTES, events_query_cost
from render_sdk.client._stream_cursor import StreamCursor
from render_sdk.client._waiting import (
    STREAM_ERRORS,
    EventsUnavailable,
    Finished,
    ServerTraits,
    StreamFailure,
    classify_stream_error,
    ended_by_terminal,
)
from render_sdk.client.errors import RenderError
from render_sdk.client.types import Page, TaskRun, TaskRunDetails, is_terminal

__all__ = ["EventHub"]

logger = logging.getLogger("render_sdk.client")

#: Sleeps a number of seconds (``asyncio.sleep``, or a test's replacement).
Sleep = Callable[[float], Awaitable[object]]

# Requests re-checking pending runs at once, so a reconnect with many waiters does not flood the API.
_RECHECK_CONCURRENCY = 8
# Runs re-checked by one list request (the API's largest page).
_RECHECK_BATCH = 100
# Waits that join an open stream come in bursts (a gather of many run_task calls finishes over several ticks):
# resubscribe once no new wait has joined for the quiet period (or the longest delay has passed), so a burst
# costs one new connection, not one per tick. Runs that finish meanwhile are caught by the re-check GETs.
_RESUBSCRIBE_QUIET_SECONDS = 0.02
_RESUBSCRIBE_MAX_DELAY_SECONDS = 1.0


class EventHub:
    """Waits for runs to finish over shared event streams (see the module docstring).

    Args:
        http: The client's httpx client for event streams.
        config: The client's configuration (timeouts, poll interval).
        get_details: Fetches a run once (no retries: the streams' reconnect rule paces the re-checks).
        list_runs: Lists the runs of the trees started by up to a hundred runs (one page, no retries).
        traits: What the client learned about the server (shared by the hubs of all event loops).
        sleep: How to sleep.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        config: ClientConfig,
        get_details: Callable[[str], Awaitable[TaskRunDetails]],
        list_runs: Callable[[list[str]], Awaitable[Page[TaskRun]]],
        traits: ServerTraits,
        sleep: Sleep,
    ) -> None:
        self._http = http
        self._config = config
        self._get_details = get_details
        self._list_runs = list_runs
        self._traits = traits
        self._sleep = sleep
        self._waiters: dict[str, list[asyncio.Future[Finished]]] = {}
        self._streams: list[_Stream] = []
        self._stream_of: dict[str, _Stream] = {}
        self.connections = 0
        """How many stream connections this hub has opened (for tests and diagnostics)."""

    @property
    def streams(self) -> int:
        """How many streams are following runs now."""
        return len(self._streams)

    async def wait(self, task_run_id: str) -> Finished:
        """Wait until the run finishes and return its details; errors fetching it are raised."""
        future: asyncio.Future[Finished] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(task_run_id, []).append(future)
        if task_run_id not in self._stream_of:
            self._join(task_run_id)
        try:
            return await future
        finally:
            futures = self._waiters.get(task_run_id, [])
            if future in futures:
                futures.remove(future)
                if not futures:
                    del self._waiters[task_run_id]
                    self._leave(task_run_id)

    async def aclose(self) -> None:
        """Stop streaming; pending waits fail with RenderError."""
        streams, self._streams = self._streams, []
        for stream in streams:
            await stream.stop()
        for run_id in list(self._waiters):
            self.fail(run_id, RenderError("the client was closed while waiting for the task run"))

    def _join(self, run_id: str) -> None:
        newest = self._streams[-1] if self._streams else None
        if newest is None or not newest.has_room_for(run_id):
            newest = _Stream(self)
            self._streams.append(newest)
        newest.add(run_id)
        self._stream_of[run_id] = newest

    def _leave(self, run_id: str) -> None:
        stream = self._stream_of.pop(run_id, None)
        if stream is not None:
            stream.remove(run_id)

    def ended(self, stream: _Stream) -> None:
        """A stream stopped (nobody waits on its runs any more)."""
        if stream in self._streams:
            self._streams.remove(stream)
        for run_id in stream.cursor.pending:
            if self._stream_of.get(run_id) is stream:
                del self._stream_of[run_id]
                if run_id in self._waiters:
                    self._join(run_id)

    def deliver(self, run_id: str, finished: Finished) -> None:
        """Hand a finished run to everyone waiting for it."""
        self._leave(run_id)
        for future in self._waiters.pop(run_id, []):
            if not future.done():
                future.set_result(finished)

    def fail(self, run_id: str, error: BaseException) -> None:
        """Fail every wait for the run."""
        self._leave(run_id)
        for future in self._waiters.pop(run_id, []):
            if not future.done():
                future.set_exception(error)

    async def recheck(self, run_ids: list[str]) -> None:
        """Look the runs up and deliver the finished ones.

        One list request per hundred runs tells which have ended (``rootTaskRunId`` is a run's own id for a
        run started from outside); only those, and runs the list did not show (subtasks), take a GET each.
        So re-checking 10,000 waits costs about a hundred requests, not 10,000.

        Raises:
            StreamFailure: A request failed transiently: the caller reconnects (and re-checks) later.
        """
        limit = asyncio.Semaphore(_RECHECK_CONCURRENCY)
        transient: list[StreamFailure] = []

        def failed(run_ids: list[str], error: RenderError) -> bool:
            """Note a failed request; True when it was transient."""
            meaning = classify_stream_error(error)
            if isinstance(meaning, StreamFailure):
                transient.append(meaning)
                return True
            for run_id in run_ids:
                self.fail(run_id, error)
            return False

        async def unfinished(group: list[str]) -> list[str]:
            """The runs of ``group`` that may have ended: those the list shows ended, or does not show."""
            async with limit:
                try:
                    listed = await self._list_runs(group)
                except RenderError as exc:
                    # A server that cannot filter by root refuses the list: look every run up instead.
                    return [] if failed([], exc) else group
            statuses = {run.id: str(run.status) for run in listed}
            return [run_id for run_id in group if run_id not in statuses or is_terminal(statuses[run_id])]

        async def check(run_id: str) -> None:
            async with limit:
                if run_id not in self._waiters:
                    return
                try:
                    details = await self._get_details(run_id)
                except RenderError as exc:
                    failed([run_id], exc)
                    return
            if ended_by_terminal(details):
                self.deliver(run_id, (details, None))

        waited = [run_id for run_id in run_ids if run_id in self._waiters]
        groups = [waited[i : i + _RECHECK_BATCH] for i in range(0, len(waited), _RECHECK_BATCH)]
        candidates = await asyncio.gather(*(unfinished(group) for group in groups))
        await asyncio.gather(*(check(run_id) for group in candidates for run_id in group))
        if transient:
            raise transient[0]


class _Stream:
    """One event stream of the hub, following a set of runs that fits in its URL."""

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub
        self.cursor = StreamCursor(hub._config)
        self._changed = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    def has_room_for(self, run_id: str) -> bool:
        used = sum(map(events_query_cost, self.cursor.pending))
        return used + events_query_cost(run_id) <= MAX_EVENTS_QUERY_BYTES

    def add(self, run_id: str) -> None:
        self.cursor.pending.add(run_id)
        self._changed.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="render-sdk-task-run-events")

    def remove(self, run_id: str) -> None:
        self.cursor.pending.discard(run_id)
        if not self.cursor.pending:
            # Nobody waits any more: let the runner close the stream.
            self._changed.set()

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def _run(self) -> None:
        try:
            await self._follow_until_done()
        except Exception as exc:
            # A bug here must not leave waiters hanging forever: hand it to every one of them.
            logger.exception("task run event hub crashed")
            for run_id in list(self.cursor.pending):
                self._hub.fail(run_id, exc)
        finally:
            self._hub.ended(self)

    async def _follow_until_done(self) -> None:
        hub, cursor = self._hub, self.cursor
        resubscribing = False
        while not cursor.done:
            run_ids = sorted(cursor.pending)
            if hub._traits.events_unavailable:
                with contextlib.suppress(StreamFailure):
                    await hub.recheck(run_ids)
                await self._sleep_or_change(hub._config.poll_interval)
                continue
            if resubscribing:
                await self._settle()
            else:
                # Let every wait started in this tick register, so they share the first connection.
                await asyncio.sleep(0)
            self._changed.clear()
            run_ids = sorted(cursor.pending)
            if not run_ids:
                break
            try:
                try:
                    await self._connect()
                    resubscribing = True
                    continue
                except STREAM_ERRORS as exc:
                    pause = cursor.pause_after(exc)
                except StreamEnded:
                    pause = cursor.pause_after(None)
                with contextlib.suppress(StreamFailure):
                    await hub.recheck(run_ids)
            except EventsUnavailable as exc:
                logger.info("task run events unavailable (%s); waiting by polling GET", exc)
                hub._traits.events_unavailable = True
                continue
            except RenderError as exc:
                for run_id in run_ids:
                    hub.fail(run_id, exc)
                continue
            if not cursor.done and pause:
                await self._sleep_or_change(pause)
            # After a healthy stream ended (a server may close one whose runs all finished), waits that
            # joined meanwhile may still be arriving: gather them into the next connection.
            resubscribing = not pause

    async def _settle(self) -> None:
        """Wait until no wait has joined for the quiet period, or the longest resubscribe delay has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _RESUBSCRIBE_MAX_DELAY_SECONDS
        while (remaining := deadline - loop.time()) > 0:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(_RESUBSCRIBE_QUIET_SECONDS, remaining))
            except asyncio.TimeoutError:
                return

    async def _connect(self) -> None:
        """Follow one connection until the set of followed runs changes (then return).

        Raises:
            StreamEnded: The server ended the stream.
            One of STREAM_ERRORS, or RenderError: see :meth:`StreamCursor.pause_after`.
        """
        hub = self._hub
        async with aconnect_sse(hub._http, **self.cursor.connect_args()) as source:
            hub.connections += 1
            if not source.response.is_success:
                await source.response.aread()
            self.cursor.opened(source.response)
            reader = asyncio.create_task(self._read(source))
            changed = asyncio.create_task(self._changed.wait())
            # Anything that finished before this connection existed is only visible to a GET; the stream is
            # read meanwhile (a re-check of many runs takes a while).
            checking = asyncio.create_task(hub.recheck(sorted(self.cursor.pending)))
            watched = {reader, changed, checking}
            try:
                while True:
                    done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                    if done != {checking} or checking.exception() is not None:
                        break
                    watched.discard(checking)
            finally:
                for task in (reader, changed, checking):
                    task.cancel()
                await asyncio.gather(reader, changed, checking, return_exceptions=True)
            if checking in done:
                checking.result()  # a transient re-check failure ends the connection
            if reader not in done:
                return
            reader.result()  # re-raises what ended the stream
        raise StreamEnded

    async def _read(self, source: EventSource) -> None:
        cursor = self.cursor
        async for sse in source.aiter_sse():
            event = cursor.read(sse)
            if cursor.missed_event:
                cursor.missed_event = False
                await self._hub.recheck(sorted(cursor.pending))
            if event is not None and cursor.ends_run(event):
                self._hub.deliver(event.details.id, (event.details, event.event))

    async def _sleep_or_change(self, seconds: float) -> None:
        self._changed.clear()
        sleeping = asyncio.ensure_future(self._hub._sleep(seconds))
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({sleeping, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeping, changed):
                task.cancel()
            await asyncio.gather(sleeping, changed, return_exceptions=True)


class StreamEnded(Exception):
    """The server ended a stream while runs were still pending."""
