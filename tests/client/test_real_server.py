"""The clients against a real HTTP server (``tests/client/api_server.py``): many waits, outages, lost answers
to a start, and a server that keeps event streams open."""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from render_sdk.client import AwaitableTaskRun, Render, RenderSync, TaskRunStatus
from render_sdk.client._operations import MAX_EVENTS_QUERY_BYTES, events_query_cost
from tests.client.api_server import ApiServer

pytestmark = pytest.mark.slow(seconds=14)


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with ApiServer() as running:
        yield running


async def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


# ---- issue 9 item 15: many concurrent waits ---------------------------------------------------------------


def test_ten_thousand_concurrent_awaits_on_one_client(server: ApiServer) -> None:
    count = 10_000
    # Started elsewhere (10,000 starts through one client would take a minute on a loaded machine): the
    # awaits are what is tested.
    server.add_runs(count)

    async def main() -> list[Any]:
        async with Render(base_url=server.url) as render:
            runs = [
                AwaitableTaskRun(render.workflows, run) async for run in render.workflows.iter_task_runs()
            ]
            assert len(runs) == count
            listings = server.list_requests
            waits = asyncio.gather(*(run.wait(timeout=60) for run in runs))
            hub = render._loop_state().hub
            streams_needed = math.ceil(count * events_query_cost(runs[0].id) / MAX_EVENTS_QUERY_BYTES)
            await until(lambda: server.event_connections >= streams_needed)
            # Each stream re-checks its runs once connected: one list request per hundred runs.
            rechecks = sum(math.ceil(len(stream.cursor.pending) / 100) for stream in hub._streams)
            await until(lambda: server.list_requests >= listings + rechecks)
            server.finish(run.id for run in runs)
            finished = await waits
            assert hub.connections <= 2 * streams_needed
            return finished

    started = time.monotonic()
    finished = asyncio.run(main())
    elapsed = time.monotonic() - started
    assert len(finished) == count and {run.status for run in finished} == {TaskRunStatus.COMPLETED}
    # Every stream's request line stays within what common servers and proxies accept (8 KiB).
    assert server.longest_request_line < 8192
    # Re-checks are batched: about one list request per hundred runs, not a GET per run.
    assert server.get_requests < count / 10
    print(f"{count} concurrent awaits: {elapsed:.1f} s, {server.event_connections} stream connections")


@pytest.mark.parametrize("flavor", ["async", "sync"])
def test_more_runs_than_one_stream_url_holds_is_a_clear_error(server: ApiServer, flavor: str) -> None:
    run_ids = [f"trn-{i:020d}" for i in range(1_000)]
    if flavor == "async":

        async def main() -> None:
            async with Render(base_url=server.url) as render:
                async for _ in render.workflows.task_run_events(run_ids):
                    pass

        with pytest.raises(ValueError, match="do not fit in one event stream"):
            asyncio.run(main())
    else:
        with RenderSync(base_url=server.url) as render, pytest.raises(ValueError, match="do not fit"):
            list(render.workflows.task_run_events(run_ids))


# ---- issue 9 item 16: an outage does not fail a wait ------------------------------------------------------


class RealTransport(httpx.AsyncBaseTransport, httpx.BaseTransport):
    """A real transport for either client, for tests to wrap."""

    def __init__(self) -> None:
        self._async = httpx.AsyncHTTPTransport()
        self._sync = httpx.HTTPTransport()

    async def aclose(self) -> None:
        await self._async.aclose()

    def close(self) -> None:
        self._sync.close()


class CountingTransport(RealTransport):
    """A real transport that counts the connections the server refused, and the paths it answered."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0
        self.answered: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._async.handle_async_request(request)
        except httpx.ConnectError:
            self.refused += 1
            raise
        self.answered.append(f"{request.method} {request.url.path}")
        return response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self._sync.handle_request(request)
        except httpx.ConnectError:
            self.refused += 1
            raise
        self.answered.append(f"{request.method} {request.url.path}")
        return response

    def looked_up(self, run_id: str) -> bool:
        """Whether a GET of the run, or of a page of runs, was answered: a wait does one once its event stream
        is open. (A server stopped while that GET is on its way would leave it to its 30 s read timeout.)"""
        return bool({f"GET /v1/task-runs/{run_id}", "GET /v1/task-runs"} & set(self.answered))


# Connection attempts refused during the outage: far past a retry budget of 1 (the old code failed the
# wait once the re-check GET ran out of retries).
OUTAGE_REFUSALS = 5


def test_an_outage_does_not_fail_an_async_wait(server: ApiServer) -> None:
    transport = CountingTransport()

    async def main() -> Any:
        async with Render(base_url=server.url, max_retries=1, transport=transport) as render:
            started = await render.workflows.run_task("wf/t", [1])
            waiting = asyncio.ensure_future(started.wait())
            await until(lambda: server.event_connections == 1 and transport.looked_up(started.id))
            await asyncio.to_thread(server.stop)
            await until(lambda: transport.refused >= OUTAGE_REFUSALS)
            assert not waiting.done()
            server.finish([started.id])
            await asyncio.to_thread(server.start)
            return await asyncio.wait_for(waiting, 60)

    assert asyncio.run(main()).status == TaskRunStatus.COMPLETED


def test_an_outage_does_not_fail_a_blocking_wait(server: ApiServer) -> None:
    transport = CountingTransport()
    with (
        RenderSync(base_url=server.url, max_retries=1, transport=transport) as render,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        # Reconnects back off for real, but briefly: five refusals at the real pace take half a minute.
        render._sleep = lambda seconds: time.sleep(min(seconds, 0.05))
        started = render.workflows.run_task("wf/t", [1])
        waiting = pool.submit(started.wait)
        wait_until(lambda: server.event_connections == 1 and transport.looked_up(started.id))
        server.stop()
        wait_until(lambda: transport.refused >= OUTAGE_REFUSALS)
        assert not waiting.done()
        server.finish([started.id])
        server.start()
        assert waiting.result(60).status == TaskRunStatus.COMPLETED


def test_a_wait_still_ends_at_its_own_timeout_during_an_outage(server: ApiServer) -> None:
    from render_sdk.client import TimeoutError

    async def main() -> None:
        async with Render(base_url=server.url) as render:
            started = await render.workflows.run_task("wf/t", [1])
            server.stop()
            with pytest.raises(TimeoutError, match=r"did not finish within 1\.5 s"):
                await started.wait(timeout=1.5)

    asyncio.run(main())
    with RenderSync(base_url=server.url) as render:
        server.start()
        started = render.workflows.run_task("wf/t", [1])
        server.stop()
        with pytest.raises(TimeoutError, match=r"did not finish within 1\.5 s"):
            started.wait(timeout=1.5)


# ---- issue 10 item 4: a start whose answer is lost is retried without a second run -----------------------


class LosingAnswers(RealTransport):
    """A real transport that, for the first ``failures`` starts, delivers the request and loses the answer.

    The failures rotate through a reset after sending, a read timeout and a 502 from a proxy in front.
    """

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def _lose(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        self.failures -= 1
        kind = self.failures % 3
        if kind == 0:
            raise httpx.ReadError("connection reset by peer", request=request)
        if kind == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(502, text="bad gateway", request=request)

    def _losing(self, request: httpx.Request) -> bool:
        return request.method == "POST" and self.failures > 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._async.handle_async_request(request)
        if self._losing(request):
            await response.aread()
            return self._lose(request, response)
        return response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._sync.handle_request(request)
        if self._losing(request):
            response.read()
            return self._lose(request, response)
        return response


@pytest.mark.parametrize("flavor", ["async", "sync"])
def test_lost_answers_to_a_start_give_exactly_one_run(server: ApiServer, flavor: str) -> None:
    failures = 4
    transport = LosingAnswers(failures)
    kwargs: dict[str, Any] = {"base_url": server.url, "max_retries": failures, "transport": transport}
    if flavor == "async":

        async def main() -> Any:
            async with Render(**kwargs) as render:
                render._sleep = lambda seconds: asyncio.sleep(0)
                return await render.workflows.run_task("wf/t", [1])

        started = asyncio.run(main())
    else:
        with RenderSync(**kwargs) as render:
            render._sleep = lambda seconds: None
            started = render.workflows.run_task("wf/t", [1])
    assert server.create_requests == failures + 1
    assert server.runs() == [started.id]
    assert server.keys == 1


# ---- issue 10 item 2: the iterator ends by itself on a server that keeps streams open ---------------------


@pytest.mark.parametrize("flavor", ["async", "sync"])
def test_task_run_events_ends_once_every_run_ended_on_a_stream_kept_open(
    server: ApiServer, flavor: str
) -> None:
    if flavor == "async":

        async def main() -> tuple[Any, Any, list[Any]]:
            async with Render(base_url=server.url) as render:
                one = await render.workflows.run_task("wf/t", [1])
                two = await render.workflows.run_task("wf/t", [2])
                server.finish([one.id])  # ended before the stream opened: replayed on subscribe
                events = []
                async for event in render.workflows.task_run_events([one.id, two.id]):
                    events.append(event)
                    server.finish([two.id], "failed")
                return one, two, events

        one, two, events = asyncio.run(main())
    else:
        with RenderSync(base_url=server.url) as render:
            one = render.workflows.run_task("wf/t", [1])
            two = render.workflows.run_task("wf/t", [2])
            server.finish([one.id])
            events = []
            for event in render.workflows.task_run_events([one.id, two.id]):
                events.append(event)
                server.finish([two.id], "failed")
    assert [(event.details.id, str(event.details.status)) for event in events] == [
        (one.id, "completed"),
        (two.id, "failed"),
    ]
    assert server.event_connections == 1
