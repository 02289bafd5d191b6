"""The Unix-socket transports (asyncio and blocking) and subtask polling against scripted HTTP servers.

Every transport test runs against both drivers: they share the HTTP exchange and the retry decisions
(``render_sdk.workflows._http``) and must behave the same. The blocking one runs in a thread, so the scripted
server keeps serving on the event loop.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import inspect
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import h11
import pytest

from render_sdk._protocol.payload import WireError
from render_sdk.client.errors import NotFoundError, RenderError, ServerError, TaskRunError, TimeoutError
from render_sdk.workflows import TaskRunMetadata, Workflows
from render_sdk.workflows._callbacks import read_input, read_subtask_result
from render_sdk.workflows._socket_transport import SocketTransport
from render_sdk.workflows._subtasks import SocketSubtaskRunner
from render_sdk.workflows._sync_socket_transport import SyncSocketTransport

Answer = "tuple[int, bytes] | None"
Handler = Callable[[str, Any], "Answer | Awaitable[Answer]"]
Send = Callable[..., Coroutine[Any, Any, Any]]


@pytest.fixture
def waits() -> list[float]:
    """Every wait between attempts that the transports of ``send`` made, in seconds."""
    return []


@pytest.fixture(params=["asyncio", "blocking"])
def send(request: pytest.FixtureRequest, waits: list[float]) -> Send:
    """``await send(socket_path, operation, method, path, body=None, **options)`` with one driver."""

    async def sleep_async(delay: float) -> None:
        waits.append(delay)
        await asyncio.sleep(delay)

    def sleep_blocking(delay: float) -> None:
        waits.append(delay)
        time.sleep(delay)

    async def send_async(socket_path: str, *args: Any, **options: Any) -> Any:
        return await SocketTransport(socket_path, sleep=sleep_async, **options).request(*args)

    async def send_blocking(socket_path: str, *args: Any, **options: Any) -> Any:
        transport = SyncSocketTransport(socket_path, sleep=sleep_blocking, **options)
        return await asyncio.to_thread(transport.request, *args)

    return send_async if request.param == "asyncio" else send_blocking


@contextlib.asynccontextmanager
async def scripted_server(socket_path: str, handler: Handler) -> AsyncIterator[list[str]]:
    """Answer each request with ``handler(path, json_body)``, awaited if need be; None means never answer."""
    seen: list[str] = []
    handlers: set[asyncio.Task[Any]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        current = asyncio.current_task()
        assert current is not None
        handlers.add(current)
        try:
            connection = h11.Connection(our_role=h11.SERVER)
            target, body = "", bytearray()
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(await reader.read(65_536))
                elif isinstance(event, h11.Request):
                    target = event.target.decode()
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    break
            seen.append(target)
            answer = handler(target, json.loads(body) if body else None)
            if inspect.isawaitable(answer):
                answer = await answer
            if answer is None:
                await asyncio.Event().wait()
                return
            status, payload = answer
            headers = [("Content-Length", str(len(payload))), ("Connection", "close")]
            writer.write(
                connection.send(h11.Response(status_code=status, headers=headers))
                + connection.send(h11.Data(data=payload))
                + connection.send(h11.EndOfMessage())
            )
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_unix_server(serve, path=socket_path, backlog=1024)
    try:
        yield seen
    finally:
        server.close()
        for handler_task in handlers:
            handler_task.cancel()
        await server.wait_closed()


def ok(value: Any) -> tuple[int, bytes]:
    return 200, json.dumps(value).encode()


async def until(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.01)


def test_waits_for_a_socket_that_appears_late(socket_dir: Path, send: Send, waits: list[float]) -> None:
    path = str(socket_dir / "late.sock")

    async def main() -> Any:
        request = asyncio.ensure_future(send(path, "get input", "GET", "/input"))
        await until(lambda: len(waits) >= 2)  # The socket does not exist yet: the first attempts failed.
        assert not request.done()
        async with scripted_server(path, lambda target, body: ok({"task_name": "t", "input": ""})):
            return await asyncio.wait_for(request, 30)

    assert asyncio.run(main()) == {"task_name": "t", "input": ""}


def test_gives_up_after_the_retry_budget(socket_dir: Path, send: Send) -> None:
    path = str(socket_dir / "missing.sock")
    started = time.monotonic()
    with pytest.raises(ServerError, match=f"get input failed: cannot talk to the callback socket {path}"):
        asyncio.run(send(path, "get input", "GET", "/input", retry_for=0.5))
    assert 0.3 < time.monotonic() - started < 5


def test_a_request_that_gets_no_answer_times_out(socket_dir: Path, send: Send) -> None:
    path = str(socket_dir / "silent.sock")

    async def main() -> None:
        async with scripted_server(path, lambda target, body: None) as seen:
            with pytest.raises(TimeoutError, match=r"post callback timed out after 0\.2s") as caught:
                body = {"complete": {"output": ""}}
                await send(
                    path, "post callback", "POST", "/callback", body, request_timeout=0.2, retry_for=0.6
                )
            assert isinstance(caught.value, builtins.TimeoutError)
            assert len(seen) >= 2  # Retried.

    asyncio.run(main())


def test_server_errors_are_retried_and_client_errors_are_not(
    socket_dir: Path, send: Send, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(socket_dir / "flaky.sock")
    answers = [(503, b"busy"), (500, b""), (429, b"{}")]

    def handler(target: str, body: Any) -> tuple[int, bytes]:
        if target == "/input":
            return answers.pop(0) if answers else ok({"task_name": "square", "input": "WzNd"})
        return 404, json.dumps({"message": "no task named 'nope'"}).encode()

    async def main() -> None:
        async with scripted_server(path, handler) as seen:
            assert await send(path, "get input", "GET", "/input") == {"task_name": "square", "input": "WzNd"}
            assert seen == ["/input"] * 4
            with pytest.raises(NotFoundError, match="run subtask failed with HTTP 404: no task named 'nope'"):
                await send(path, "run subtask", "POST", "/run-subtask", {"task_name": "nope"})
            assert seen[4:] == ["/run-subtask"]

    with caplog.at_level("WARNING", logger="render_sdk.workflows"):
        asyncio.run(main())
    assert [record.getMessage().split(":")[0] for record in caplog.records] == [
        "get input failed (attempt 1), retrying in 0.05s",
        "get input failed (attempt 2), retrying in 0.10s",
        "get input failed (attempt 3), retrying in 0.20s",
    ]


def test_answers_are_read_as_the_spec_says() -> None:
    task_name, payload, metadata = read_input({"task_name": "square", "input": "WzNd", "unknown": "ignored"})
    assert (task_name, payload) == ("square", "WzNd")
    assert metadata == TaskRunMetadata(task_name="square")  # An older runtime sends no ids.
    running = {"still_running": True, "unknown": "ignored"}
    assert read_subtask_result(running, "square", "trn-1") == (False, None)
    finished = {"still_running": False, "complete": {"output": "Wzld"}}  # [9]
    assert read_subtask_result(finished, "square", "trn-1") == (True, 9)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {
                "task_run_id": "trn-2",
                "root_task_run_id": "trn-1",
                "parent_task_run_id": "trn-1",
                "attempt": 2,
            },
            TaskRunMetadata("trn-2", "trn-1", "trn-1", "square", 2),
        ),
        (  # A root run, as a runtime that writes "" for "none" sends it.
            {"task_run_id": "trn-1", "root_task_run_id": "trn-1", "parent_task_run_id": ""},
            TaskRunMetadata("trn-1", "trn-1", None, "square", None),
        ),
        ({"task_run_id": "trn-1", "parent_task_run_id": None}, TaskRunMetadata("trn-1", task_name="square")),
        ({"newer_field": {"x": 1}}, TaskRunMetadata(task_name="square")),
    ],
)
def test_run_metadata_comes_from_the_input_answer(answer: dict[str, Any], expected: TaskRunMetadata) -> None:
    assert read_input({"task_name": "square", "input": "", **answer})[2] == expected


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"task_run_id": 7}, "GET /input answer.task_run_id must be str, got int"),
        ({"root_task_run_id": ["trn-1"]}, "GET /input answer.root_task_run_id must be str, got list"),
        ({"attempt": -1}, r"GET /input answer.attempt must be an int >= 0, got -1"),
        ({"attempt": True}, r"GET /input answer.attempt must be int, got bool"),
    ],
)
def test_run_metadata_of_the_wrong_type_is_a_wire_error(answer: dict[str, Any], message: str) -> None:
    with pytest.raises(WireError, match=message):
        read_input({"task_name": "square", "input": "", **answer})


def test_an_answer_that_is_not_json_is_an_error(socket_dir: Path, send: Send) -> None:
    path = str(socket_dir / "html.sock")

    async def main() -> None:
        async with scripted_server(path, lambda target, body: (200, b"<html>")):
            with pytest.raises(RenderError, match="get input: the answer is not JSON"):
                await send(path, "get input", "GET", "/input")

    asyncio.run(main())


def run_answer_subtask(path: str, handler: Any) -> Any:
    """The result of a subtask ``answer`` started through a callback socket at ``path`` that ``handler``
    answers."""
    app = Workflows()

    @app.task
    def answer() -> int:
        return 42

    async def main() -> Any:
        async with scripted_server(path, handler):
            return await SocketSubtaskRunner(SocketTransport(path)).start_subtask(answer, [])

    return asyncio.run(main())


def test_subtask_polling_starts_fast_and_backs_off_to_one_second(socket_dir: Path) -> None:
    path = str(socket_dir / "poll.sock")
    polls: list[float] = []
    submitted: list[float] = []

    def handler(target: str, body: Any) -> tuple[int, bytes]:
        if target == "/run-subtask":
            submitted.append(time.monotonic())
            return ok({"task_run_id": "trn-1"})
        polls.append(time.monotonic())
        if len(polls) < 9:
            return ok({"still_running": True})
        return ok({"still_running": False, "complete": {"output": "WzQyXQ=="}})  # [42]

    assert run_answer_subtask(path, handler) == 42
    gaps = [later - earlier for earlier, later in zip([submitted[0], *polls[:-1]], polls, strict=True)]
    # Scheduled: 0.01, 0.02, 0.04, ... 0.64, then 1.0 s; generous margins for a loaded machine.
    assert gaps[0] < 0.1
    assert sum(gaps[:4]) < 0.5
    assert gaps[-1] > 0.9
    assert max(gaps) < 1.5


def test_a_poll_held_by_the_runtime_is_followed_by_the_next_at_once(socket_dir: Path) -> None:
    path = str(socket_dir / "held.sock")
    answered: list[float] = []
    polled: list[float] = []

    async def handler(target: str, body: Any) -> tuple[int, bytes]:
        if target == "/run-subtask":
            return ok({"task_run_id": "trn-1"})
        polled.append(time.monotonic())
        if len(polled) <= 4:  # held, as the local runtime holds a poll until the subtask ends (or for 5 s)
            await asyncio.sleep(0.2)
            answered.append(time.monotonic())
            return ok({"still_running": True})
        return ok({"still_running": False, "complete": {"output": "WzQyXQ=="}})  # [42]

    assert run_answer_subtask(path, handler) == 42
    # Each held poll took longer than the pause after it (20, 40, 80, 160 ms), so the next went out at once.
    assert [round(poll - held, 1) for held, poll in zip(answered, polled[1:], strict=False)] == [0.0] * 4


def test_subtask_failure_becomes_task_run_error(socket_dir: Path) -> None:
    path = str(socket_dir / "fail.sock")

    def handler(target: str, body: Any) -> tuple[int, bytes]:
        if target == "/run-subtask":
            return ok({"task_run_id": "trn-9"})
        return ok(
            {"still_running": False, "error": {"details": "KeyError: 'x'", "stack_trace": "Traceback..."}}
        )

    app = Workflows()

    @app.task
    def lookup() -> None: ...

    async def main() -> None:
        async with scripted_server(path, handler):
            runner = SocketSubtaskRunner(SocketTransport(path))
            with pytest.raises(TaskRunError) as caught:
                await runner.start_subtask(lookup, [])
            assert str(caught.value) == "subtask 'lookup' (trn-9) failed: KeyError: 'x'"
            assert caught.value.error == "KeyError: 'x'"
            assert caught.value.body == {"details": "KeyError: 'x'", "stack_trace": "Traceback..."}

    asyncio.run(main())
