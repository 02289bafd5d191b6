"""One shared event stream per async client, serving every ``await run`` on it.

The hub keeps the set of runs somebody is waiting for and one SSE connection subscribed to exactly that set.
When the set grows it reconnects with the new set, once a burst of new waits has settled. On every
(re)connect, and after every failed attempt, it re-checks the pending runs with GET, so a terminal event sent
while no stream was open is never missed. A dropped or idle stream reconnects with backoff (``Last-Event-ID``
included); a server without the events endpoint is polled with GET instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import httpx
from httpx_sse import EventSource, SSEError, aconnect_sse

from render_sdk.client import _transport
from render_sdk.client._config import ClientConfig
from render_sdk.client._operations import EVENTS_PATH, events_query
from render_sdk.client._waiting import (
    EventsUnavailable,
    Finished,
    ServerTraits,
    StreamFailure,
    classify_stream_error,
    ended_by_terminal,
    finishes_run,
    parse_event,
    transport_failure,
)
from render_sdk.client.errors import RenderError
from render_sdk.client.types import ResponseFormatError, TaskRunDetails

__all__ = ["EventHub"]

logger = logging.getLogger("render_sdk.client")

# GETs re-checking pending runs at once, so a reconnect with many waiters does not flood the API.
_RECHECK_CONCURRENCY = 8
# Waits that join an open stream come in bursts (a gather of many run_task calls finishes over several ticks):
# resubscribe once no new wait has joined for the quiet period (or the longest delay has passed), so a burst
# costs one new connection, not one per tick. Runs that finish meanwhile are caught by the re-check GETs.
_RESUBSCRIBE_QUIET_SECONDS = 0.02
_RESUBSCRIBE_MAX_DELAY_SECONDS = 1.0


class EventHub:
    """Waits for runs to finish over one shared event stream (see the module docstring).

    Args:
        http: The client's own httpx client.
        config: The client's configuration (timeouts, poll interval).
        get_details: Fetches a run with the client's retry policy.
        traits: What the client learned about the server (shared by the hubs of all event loops).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        config: ClientConfig,
        get_details: Callable[[str], Awaitable[TaskRunDetails]],
        traits: ServerTraits,
    ) -> None:
        self._http = http
        self._config = config
        self._get_details = get_details
        self._waiters: dict[str, list[asyncio.Future[Finished]]] = {}
        self._changed = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._traits = traits
        self._last_event_id: str | None = None
        self._connections = 0
        self._events_seen = 0

    @property
    def connections(self) -> int:
        """How many stream connections this hub has opened (for tests and diagnostics)."""
        return self._connections

    async def wait(self, task_run_id: str) -> Finished:
        """Wait until the run finishes and return its details; errors fetching it are raised."""
        future: asyncio.Future[Finished] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(task_run_id, []).append(future)
        self._changed.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="render-sdk-task-run-events")
        try:
            return await future
        finally:
            futures = self._waiters.get(task_run_id, [])
            if future in futures:
                futures.remove(future)
                if not futures:
                    del self._waiters[task_run_id]
            if not self._waiters:
                # Nobody waits any more: let the runner close the stream.
                self._changed.set()

    async def aclose(self) -> None:
        """Stop streaming; pending waits fail with RenderError."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for run_id in list(self._waiters):
            self._fail(run_id, RenderError("the client was closed while waiting for the task run"))

    # ---- the runner ---------------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._follow_until_done()
        except Exception as exc:
            # A bug here must not leave waiters hanging forever: hand it to every one of them.
            logger.exception("task run event hub crashed")
            for run_id in list(self._waiters):
                self._fail(run_id, exc)

    async def _follow_until_done(self) -> None:
        failures = 0
        resubscribing = False
        while self._waiters:
            if self._traits.events_unavailable:
                await self._recheck(sorted(self._waiters))
                if self._waiters:
                    await self._sleep_or_change(self._config.poll_interval)
                continue
            if resubscribing:
                await self._settle()
            else:
                # Let every wait started in this tick register, so they share the first connection.
                await asyncio.sleep(0)
            resubscribing = False
            self._changed.clear()
            run_ids = sorted(self._waiters)
            if not run_ids:
                break
            seen_before = self._events_seen
            try:
                await self._stream(run_ids)
            except EventsUnavailable as exc:
                logger.info("task run events unavailable (%s); waiting by polling GET", exc)
                self._traits.events_unavailable = True
            except StreamFailure as exc:
                logger.info("task run event stream failed: %s", exc)
                # A stream that delivered events was healthy: start the backoff over.
                failures = 0 if self._events_seen > seen_before else failures + 1
                await self._recheck(run_ids)
                if self._waiters and failures:
                    delay = _transport.backoff(failures - 1) if exc.retry_after is None else exc.retry_after
                    await self._sleep_or_change(min(delay, _transport.MAX_DELAY))
                # After a healthy stream ended (the server closes one whose runs all finished), waits that
                # joined meanwhile may still be arriving: gather them into the next connection.
                resubscribing = not failures
            except RenderError as exc:
                for run_id in run_ids:
                    self._fail(run_id, exc)
            else:
                failures = 0
                resubscribing = True

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

    async def _stream(self, run_ids: list[str]) -> None:
        """Follow one connection until the set of waited runs changes.

        Raises:
            EventsUnavailable, StreamFailure: see :func:`classify_stream_error`.
            RenderError: waiting cannot succeed (e.g. 401).
        """
        headers = {"Last-Event-ID": self._last_event_id} if self._last_event_id else {}
        try:
            async with aconnect_sse(
                self._http,
                "GET",
                EVENTS_PATH.lstrip("/"),
                params=events_query(run_ids),
                headers=headers,
                timeout=_transport.stream_timeout(self._config),
            ) as source:
                self._connections += 1
                response = source.response
                if not response.is_success:
                    await response.aread()
                    error = _transport.error_from_response("task run events", response)
                    raise classify_stream_error(error)
                # Anything that finished before this connection existed is only visible to a GET.
                await self._recheck(run_ids)
                reader = asyncio.create_task(self._read(source))
                changed = asyncio.create_task(self._changed.wait())
                try:
                    done, _ = await asyncio.wait({reader, changed}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (reader, changed):
                        task.cancel()
                    await asyncio.gather(reader, changed, return_exceptions=True)
                if reader not in done:
                    return
                reader.result()  # re-raises what ended the stream
        except SSEError as exc:
            raise EventsUnavailable(f"the events endpoint answered without an event stream: {exc}") from exc
        except httpx.HTTPError as exc:
            raise transport_failure(exc) from exc
        # The server closed a healthy stream (a deploy, a proxy limit): reconnect at once if it was working.
        raise StreamFailure("the event stream ended")

    async def _read(self, source: EventSource) -> None:
        async for sse in source.aiter_sse():
            if sse.id:
                self._last_event_id = sse.id
            try:
                event = parse_event(sse)
            except ResponseFormatError as exc:
                logger.warning("ignoring a malformed task run event: %s", exc)
                # Whatever it said is still visible to a GET.
                await self._recheck(sorted(self._waiters))
                continue
            if event is None:
                continue
            self._events_seen += 1
            if finishes_run(event):
                self._deliver(event.details.id, (event.details, event.event))

    async def _recheck(self, run_ids: list[str]) -> None:
        limit = asyncio.Semaphore(_RECHECK_CONCURRENCY)

        async def check(run_id: str) -> None:
            async with limit:
                if run_id not in self._waiters:
                    return
                try:
                    details = await self._get_details(run_id)
                except RenderError as exc:
                    self._fail(run_id, exc)
                    return
            if ended_by_terminal(details):
                self._deliver(run_id, (details, None))

        await asyncio.gather(*(check(run_id) for run_id in run_ids))

    async def _sleep_or_change(self, seconds: float) -> None:
        self._changed.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout=seconds)

    def _deliver(self, run_id: str, finished: Finished) -> None:
        for future in self._waiters.pop(run_id, []):
            if not future.done():
                future.set_result(finished)

    def _fail(self, run_id: str, error: BaseException) -> None:
        for future in self._waiters.pop(run_id, []):
            if not future.done():
                future.set_exception(error)
