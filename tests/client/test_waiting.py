"""Waiting for runs: the event stream, its framing, reconnects, the shared stream and the polling fallback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from render_sdk.client import Render, TaskRunCanceledError, TaskRunError, TaskRunStatus, _async_events, errors
from tests.client.conftest import Flavor, details, frame, sse, task_run

EventsAnswer = Callable[[httpx.Request], httpx.Response]


class FakeApi:
    """Runs with a current status; each events connection is answered by the next scripted answer."""

    def __init__(self, *events: EventsAnswer, created: str = "pending") -> None:
        self.statuses: dict[str, str] = {}
        self.extra: dict[str, dict[str, Any]] = {}
        self.events = list(events)
        self.created = created
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.method == "POST":
            run_id = f"trn-{len(self.statuses) + 1}"
            self.statuses[run_id] = self.created
            return httpx.Response(202, json=task_run(run_id, self.created))
        if path == "/v1/task-runs/events":
            answer = self.events.pop(0) if len(self.events) > 1 else self.events[0]
            return answer(request)
        if path == "/v1/task-runs":  # the event hub's batched re-check
            roots = request.url.params.get_list("rootTaskRunId")
            return httpx.Response(
                200, json=[{"taskRun": task_run(run_id, self.statuses[run_id])} for run_id in roots]
            )
        if request.method == "DELETE":
            self.statuses[path.rsplit("/", 1)[1]] = "canceled"
            return httpx.Response(204)
        run_id = path.rsplit("/", 1)[1]
        return httpx.Response(200, json=details(run_id, self.statuses[run_id], **self.extra.get(run_id, {})))

    def of(self, kind: str) -> list[httpx.Request]:
        if kind == "events":
            return [r for r in self.requests if r.url.path.endswith("/events")]
        if kind == "list":
            return [r for r in self.requests if r.method == "GET" and r.url.path == "/v1/task-runs"]
        return [r for r in self.requests if r.method == "GET" and r.url.path.startswith("/v1/task-runs/trn-")]


def events_for(*frames: Callable[[list[str]], bytes], hold: bool = True) -> EventsAnswer:
    """An events answer whose frames are built from the subscribed run ids."""

    def answer(request: httpx.Request) -> httpx.Response:
        run_ids = request.url.params.get_list("taskRunIds")
        return sse([build(run_ids) for build in frames], hold=hold)

    return answer


def finished(
    status: str = "completed", event: str = "task.completed", **extra: Any
) -> Callable[[list[str]], bytes]:
    def build(run_ids: list[str]) -> bytes:
        return b"".join(frame(event, details(run_id, status, **extra), "7") for run_id in run_ids)

    return build


def start(flavor: Flavor, api: FakeApi, **kwargs: Any) -> tuple[Any, Any]:
    render = flavor.client(api.handler, **kwargs)
    return render, flavor.run(render.workflows.run_task("my-workflow/square", [5]))


def test_seed_example_waits_over_the_stream(flavor: Flavor) -> None:
    api = FakeApi(events_for(finished()))
    _, started = start(flavor, api)
    assert (started.id, started.status) == ("trn-1", "pending")
    run = flavor.wait(started)
    assert (run.id, run.status, run.results, run.input_) == ("trn-1", "completed", [25], [5])
    assert started.status == "completed"
    assert api.of("events")[0].url.params.get_list("taskRunIds") == ["trn-1"]
    assert api.of("events")[0].headers["accept"] == "text/event-stream"


def test_async_await_syntax() -> None:
    api = FakeApi(events_for(finished()))

    async def main() -> Any:
        render = Render(token="rnd_x", transport=httpx.MockTransport(api.handler))
        started = await render.workflows.run_task(task_identifier="my-workflow/square", input_data=[5])
        finished_run = await started
        again = await started  # the outcome is kept
        await render.aclose()
        return finished_run, again

    first, again = asyncio.run(main())
    assert first is again and first.results == [25]
    assert len(api.of("events")) == 1


def test_run_finished_at_creation_needs_no_stream(flavor: Flavor) -> None:
    api = FakeApi(events_for(finished()), created="completed")
    _, started = start(flavor, api)
    assert flavor.wait(started).results == [25]
    assert api.of("events") == [] and len(api.of("get")) == 1


def test_failed_run_raises_with_details(flavor: Flavor) -> None:
    api = FakeApi(events_for(finished("failed", error="ValueError: boom")))
    _, started = start(flavor, api)
    with pytest.raises(TaskRunError) as caught:
        flavor.wait(started)
    assert type(caught.value) is TaskRunError
    assert caught.value.error == "ValueError: boom" and "boom" in str(caught.value)
    assert caught.value.details is not None and caught.value.details.status == "failed"
    assert caught.value.task_run_id == "trn-1"


def test_failed_run_without_error_text_still_raises(flavor: Flavor) -> None:
    api = FakeApi(events_for(finished("failed")))
    _, started = start(flavor, api)
    with pytest.raises(TaskRunError, match="status failed"):
        flavor.wait(started)


def test_canceled_run_raises_canceled_error(flavor: Flavor) -> None:
    api = FakeApi(events_for(finished("canceled", event="task.canceled")))
    _, started = start(flavor, api)
    with pytest.raises(TaskRunCanceledError):
        flavor.wait(started)


def test_cancel_and_refresh(flavor: Flavor) -> None:
    api = FakeApi(events_for(finished("canceled")))
    _, started = start(flavor, api)
    flavor.run(started.cancel())
    refreshed = flavor.run(started.refresh())
    assert refreshed.status == "canceled" and started.status == TaskRunStatus.CANCELED
    with pytest.raises(TaskRunCanceledError):
        flavor.wait(started)
    # Already terminal after the refresh: the outcome comes from one GET, not the stream.
    assert api.of("events") == []


@pytest.mark.parametrize(
    ("status", "event", "outcome"),
    [
        ("succeeded", "task.succeeded", "ok"),
        ("succeeded", "task.completed", "ok"),
        ("completed", "task.completed", "ok"),
        ("archived", "task.completed", "ok"),
        ("archived", "task.failed", "failed"),
        ("archived", "task.canceled", "canceled"),
        ("failed", "task.completed", "failed"),  # the API names every terminal event task.completed
    ],
)
def test_outcome_by_status_and_event(flavor: Flavor, status: str, event: str, outcome: str) -> None:
    api = FakeApi(events_for(finished(status, event=event)))
    _, started = start(flavor, api)
    if outcome == "ok":
        assert flavor.wait(started).status == status
    else:
        with pytest.raises(TaskRunCanceledError if outcome == "canceled" else TaskRunError):
            flavor.wait(started)


def test_non_terminal_and_unknown_events_do_not_end_the_wait(flavor: Flavor) -> None:
    def frames(run_ids: list[str]) -> bytes:
        run_id = run_ids[0]
        return (
            frame("task.running", details(run_id, "running"))
            + frame("task.progress", details(run_id, "warming-up"))
            + frame("message", {"hello": "world"})
            + b"retry: 2000\n\n: ping\n\n"
            + frame("task.completed", {"id": run_id})  # malformed: skipped, not fatal
            + frame("task.completed", details("trn-other", "completed"))
            + frame("task.completed", details(run_id, "completed", results=["right one"]))
        )

    api = FakeApi(events_for(frames))
    _, started = start(flavor, api)
    assert flavor.wait(started).results == ["right one"]


def test_sse_framing_across_chunk_boundaries_with_multibyte_utf8(flavor: Flavor) -> None:
    text = "héllo ✓ 😀 — ünïcode"

    def answer(request: httpx.Request) -> httpx.Response:
        run_id = request.url.params["taskRunIds"]
        body = b": ping\r\n\r\n" + frame("task.completed", details(run_id, "completed", results=[text]), "1")
        body = body.replace(b"\n\n", b"\r\n\r\n", 1)
        # One byte per chunk: every multi-byte character and every line ending is split.
        return sse([body[i : i + 1] for i in range(len(body))])

    api = FakeApi(answer)
    _, started = start(flavor, api)
    assert flavor.wait(started).results == [text]


def test_multiple_data_lines_are_joined(flavor: Flavor) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        run_id = request.url.params["taskRunIds"]
        lines = json.dumps(details(run_id, "completed", results=["  padded  "]), indent=1).splitlines()
        body = "event: task.completed\n" + "".join(f"data: {line}\n" for line in lines) + "\n"
        return sse([body.encode()])

    api = FakeApi(answer)
    _, started = start(flavor, api)
    assert flavor.wait(started).results == ["  padded  "]


def test_dropped_stream_reconnects_with_last_event_id(flavor: Flavor, sleeps: list[float]) -> None:
    def running(run_ids: list[str]) -> bytes:
        return frame("task.running", details(run_ids[0], "running"), "41")

    api = FakeApi(events_for(running, hold=False), events_for(finished()))
    _, started = start(flavor, api)
    assert flavor.wait(started).status == "completed"
    connections = api.of("events")
    assert len(connections) == 2
    assert "last-event-id" not in connections[0].headers
    assert connections[1].headers["last-event-id"] == "41"


def test_terminal_event_missed_while_disconnected_is_found_by_get(
    flavor: Flavor, sleeps: list[float]
) -> None:
    api = FakeApi()

    def drop_and_finish(request: httpx.Request) -> httpx.Response:
        # The run finishes while no stream is open; the stream that follows never mentions it.
        api.statuses["trn-1"] = "completed"
        raise httpx.ReadError("connection reset", request=request)

    api.events = [drop_and_finish, events_for(hold=False)]
    _, started = start(flavor, api)
    assert flavor.wait(started).results == [25]
    assert len(api.of("events")) == 1


def test_get_recheck_on_connect_catches_an_already_finished_run(flavor: Flavor) -> None:
    api = FakeApi(events_for())  # a stream that never says anything
    _, started = start(flavor, api)
    api.statuses["trn-1"] = "completed"
    assert flavor.wait(started, timeout=5).results == [25]


@pytest.mark.parametrize(
    "unavailable",
    [
        httpx.Response(404, json={"message": "not found"}),
        httpx.Response(405),
        httpx.Response(501, text="not implemented"),
        httpx.Response(200, json=[]),  # not an event stream at all
    ],
)
def test_falls_back_to_polling(flavor: Flavor, sleeps: list[float], unavailable: httpx.Response) -> None:
    api = FakeApi()
    polls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            unavailable.status_code, headers=unavailable.headers, content=unavailable.content
        )

    api.events = [answer]
    real_handler = api.handler

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal polls
        if request.method == "GET" and request.url.path in ("/v1/task-runs/trn-1", "/v1/task-runs"):
            polls += 1  # a GET of the run, or the event hub's batched re-check
            if polls == 3:
                api.statuses["trn-1"] = "completed"
        return real_handler(request)

    render = flavor.client(handler, poll_interval=0.01)
    started = flavor.run(render.workflows.run_task("wf/t", [1]))
    assert flavor.wait(started).results == [25]
    assert len(api.of("events")) == 1 and polls >= 3
    # Learned once per client: the next wait polls straight away.
    api.statuses["trn-1"] = "running"
    polls = 0
    second = flavor.run(render.workflows.run_task("wf/t", [1]))
    api.statuses["trn-2"] = "completed"
    assert flavor.wait(second).id == "trn-2"
    assert len(api.of("events")) == 1


@pytest.mark.parametrize(
    ("status", "error"), [(401, errors.AuthenticationError), (403, errors.PermissionDeniedError)]
)
def test_stream_auth_errors_reach_the_caller(flavor: Flavor, status: int, error: type[Exception]) -> None:
    api = FakeApi(lambda request: httpx.Response(status, json={"message": "no", "code": "key_revoked"}))
    render, started = start(flavor, api)
    with pytest.raises(error) as raised:
        flavor.wait(started)
    assert raised.value.code == "key_revoked"  # type: ignore[attr-defined]
    with pytest.raises(error) as raised:
        flavor.collect(render.workflows.task_run_events([started.id]))
    assert raised.value.code == "key_revoked"  # type: ignore[attr-defined]


def test_stream_server_errors_are_retried(flavor: Flavor, sleeps: list[float]) -> None:
    api = FakeApi(
        lambda request: httpx.Response(503, headers={"Retry-After": "0"}),
        lambda request: httpx.Response(500),
        events_for(finished()),
    )
    _, started = start(flavor, api)
    assert flavor.wait(started).status == "completed"
    assert len(api.of("events")) == 3


def test_wait_timeout(flavor: Flavor) -> None:
    api = FakeApi(events_for(hold=True))
    _, started = start(flavor, api, timeouts=None)
    with pytest.raises(errors.TimeoutError, match=r"did not finish within 0\.2 s"):
        flavor.wait(started, timeout=0.2)
    # The run goes on; a later wait still works.
    api.statuses["trn-1"] = "completed"
    assert flavor.wait(started, timeout=5).status == "completed"


def test_wait_for_task_run_by_id(flavor: Flavor) -> None:
    api = FakeApi(events_for(finished()))
    render, _ = start(flavor, api)
    assert flavor.run(render.workflows.wait_for_task_run("trn-1")).results == [25]
    api.statuses["trn-1"] = "failed"
    with pytest.raises(TaskRunError):
        flavor.run(render.workflows.wait_for_task_run("trn-1"))


def test_get_failure_while_waiting_reaches_the_caller(flavor: Flavor, sleeps: list[float]) -> None:
    api = FakeApi(lambda request: httpx.Response(404, json={"message": "no events here"}))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == "/v1/task-runs/trn-1":
            return httpx.Response(404, json={"message": "task run not found"})
        if request.method == "GET" and request.url.path == "/v1/task-runs":
            return httpx.Response(200, json=[])  # the run is in no list either
        return api.handler(request)

    render = flavor.client(handler)
    started = flavor.run(render.workflows.run_task("wf/t", [1]))
    with pytest.raises(errors.NotFoundError, match="task run not found"):
        flavor.wait(started)


# ---- async only: many waits share one stream -----------------------------------------------------------


def test_concurrent_waits_share_one_stream() -> None:
    api = FakeApi()
    release = asyncio.Event()

    def answer(request: httpx.Request) -> httpx.Response:
        run_ids = request.url.params.get_list("taskRunIds")

        async def body() -> Any:
            await release.wait()
            for run_id in run_ids:
                yield frame("task.completed", details(run_id, "completed", results=[run_id]))
            await asyncio.Event().wait()

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    api.events = [answer]

    async def main() -> list[Any]:
        async with Render(token="rnd_x", transport=httpx.MockTransport(api.handler)) as render:
            runs = [await render.workflows.run_task("wf/t", [i]) for i in range(25)]
            waits = asyncio.gather(*(run for run in runs))
            await asyncio.sleep(0.05)
            release.set()
            results = await waits
            hub = render._loop_state().hub
            assert hub.connections == 1
            return results

    results = asyncio.run(main())
    assert [run.results for run in results] == [[f"trn-{i + 1}"] for i in range(25)]
    connections = api.of("events")
    assert len(connections) == 1
    assert sorted(connections[0].url.params.get_list("taskRunIds")) == sorted(
        f"trn-{i + 1}" for i in range(25)
    )


def test_a_new_wait_resubscribes_with_the_larger_set() -> None:
    api = FakeApi()
    finish: dict[str, asyncio.Event] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        run_ids = request.url.params.get_list("taskRunIds")

        async def body() -> Any:
            yield b": ping\n\n"
            for run_id in run_ids:
                await finish.setdefault(run_id, asyncio.Event()).wait()
                yield frame("task.completed", details(run_id, "completed"))
            await asyncio.Event().wait()

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    api.events = [answer]

    async def main() -> None:
        async with Render(token="rnd_x", transport=httpx.MockTransport(api.handler)) as render:
            first = await render.workflows.run_task("wf/t", [1])
            first_wait = asyncio.ensure_future(first.wait())
            await _until(lambda: len(api.of("events")) == 1)
            second = await render.workflows.run_task("wf/t", [2])
            second_wait = asyncio.ensure_future(second.wait())
            await _until(lambda: len(api.of("events")) == 2)
            finish.setdefault("trn-1", asyncio.Event()).set()
            finish.setdefault("trn-2", asyncio.Event()).set()
            assert (await first_wait).id == "trn-1" and (await second_wait).id == "trn-2"

    asyncio.run(main())
    assert [r.url.params.get_list("taskRunIds") for r in api.of("events")] == [["trn-1"], ["trn-1", "trn-2"]]


def test_a_burst_of_waits_joining_an_open_stream_costs_one_reconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    # A quiet period far above a loaded machine's scheduling gaps: the joins, 5 ms apart, always fall in it.
    monkeypatch.setattr(_async_events, "_RESUBSCRIBE_QUIET_SECONDS", 0.3)
    api = FakeApi()
    finish = asyncio.Event()

    def answer(request: httpx.Request) -> httpx.Response:
        run_ids = request.url.params.get_list("taskRunIds")

        async def body() -> Any:
            yield b": ping\n\n"
            await finish.wait()
            for run_id in run_ids:
                yield frame("task.completed", details(run_id, "completed"))
            await asyncio.Event().wait()

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    api.events = [answer]

    async def main() -> None:
        async with Render(token="rnd_x", transport=httpx.MockTransport(api.handler)) as render:
            first = await render.workflows.run_task("wf/t", [0])
            waits = [asyncio.ensure_future(first.wait())]
            await _until(lambda: len(api.of("events")) == 1)
            for i in range(1, 11):  # joins spread over several ticks, each within the quiet period
                run = await render.workflows.run_task("wf/t", [i])
                waits.append(asyncio.ensure_future(run.wait()))
                await asyncio.sleep(0.005)
            await _until(lambda: len(api.of("events")) == 2)
            finish.set()
            assert [run.id for run in await asyncio.gather(*waits)] == [f"trn-{i + 1}" for i in range(11)]

    asyncio.run(main())
    subscriptions = [sorted(r.url.params.get_list("taskRunIds")) for r in api.of("events")]
    assert subscriptions == [["trn-1"], sorted(f"trn-{i + 1}" for i in range(11))]


def test_canceled_wait_leaves_the_others_alone() -> None:
    api = FakeApi(events_for())

    async def main() -> None:
        async with Render(token="rnd_x", transport=httpx.MockTransport(api.handler)) as render:
            one = await render.workflows.run_task("wf/t", [1])
            two = await render.workflows.run_task("wf/t", [2])
            with pytest.raises(errors.TimeoutError):
                await asyncio.gather(one.wait(timeout=0.05), two.wait(timeout=5))
            api.statuses["trn-2"] = "completed"
            api.statuses["trn-1"] = "completed"
            assert (await one.wait(timeout=5)).id == "trn-1"

    asyncio.run(main())


def test_closing_the_client_fails_pending_waits() -> None:
    api = FakeApi(events_for())

    async def main() -> None:
        render = Render(token="rnd_x", transport=httpx.MockTransport(api.handler))
        run = await render.workflows.run_task("wf/t", [1])
        waiting = asyncio.ensure_future(run.wait())
        await _until(lambda: len(api.of("events")) == 1)
        await render.aclose()
        with pytest.raises(errors.RenderError, match="closed"):
            await waiting

    asyncio.run(main())


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)
