"""Properties (hypothesis) of the client's event-stream parsing: ``httpx_sse`` over a real ``httpx`` response
body, cut into chunks at arbitrary places, then ``_waiting.parse_event``, as the clients read the stream.

- The events a server sends (with comments, ``retry:`` advice and blank-line noise between them) come out in
  order, each with its id, name, status and results, however the bytes are chunked.
- A ``task.*`` event with any data at all is parsed or skipped with a warning; nothing else is raised.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
from httpx_sse import connect_sse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from render_sdk.client._config import Timeouts, resolve_config
from render_sdk.client._stream_cursor import StreamCursor
from render_sdk.client._waiting import TERMINAL_EVENTS, parse_event
from render_sdk.client.types import ResponseFormatError

PROPERTY = settings(
    max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

JSON_LEAVES = (
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False, allow_infinity=False)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def task_run_events(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    run_id = "trn-" + draw(st.text("abcdefghijklmnopqrstuv0123456789", min_size=1, max_size=20))
    details = {
        "id": run_id,
        "taskId": "tsk-1",
        "status": draw(st.sampled_from(["completed", "failed", "canceled", "succeeded"])),
        "results": draw(st.lists(JSON_VALUES, max_size=3)),
        "input": draw(st.lists(JSON_VALUES, max_size=3)),
        "parentTaskRunId": "",
        "rootTaskRunId": run_id,
        "retries": draw(st.integers(0, 5)),
        "attempts": [],
    }
    return str(draw(st.integers(1, 10**12))), draw(st.sampled_from(sorted(TERMINAL_EVENTS))), details


NOISE = st.sampled_from([": ping\n\n", "retry: 2000\n\n", ":\n", "\n", "event: other\ndata: {}\n\n"])


def frame(event_id: str, name: str, details: dict[str, Any], newline: str) -> str:
    return newline.join([f"id: {event_id}", f"event: {name}", f"data: {json.dumps(details)}", "", ""])


def read_stream(body: bytes, cuts: list[int]) -> Iterator[Any]:
    """The server-sent events of ``body``, delivered in chunks split at ``cuts``."""
    points = sorted({cut % (len(body) + 1) for cut in cuts} | {0, len(body)})
    chunks = [body[start:end] for start, end in itertools.pairwise(points)]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter(chunks))

    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as client,
        connect_sse(client, "GET", "http://127.0.0.1:8120/v1/task-runs/events") as source,
    ):
        yield from source.iter_sse()


@PROPERTY
@given(
    st.lists(st.tuples(task_run_events(), st.lists(NOISE, max_size=2)), max_size=5),
    st.sampled_from(["\n", "\r\n"]),
    st.lists(st.integers(0, 10**6), max_size=8),
)
def test_events_come_out_in_order_however_chunked(
    sent: list[tuple[tuple[str, str, dict[str, Any]], list[str]]], newline: str, cuts: list[int]
) -> None:
    body = "".join(
        "".join(noise).replace("\n", newline) + frame(event_id, name, details, newline)
        for (event_id, name, details), noise in sent
    ).encode()
    parsed = [event for event in map(parse_event, read_stream(body, cuts)) if event is not None]
    assert [(event.id, event.event) for event in parsed] == [
        (event_id, name) for (event_id, name, _), _ in sent
    ]
    for event, ((_, _, details), _) in zip(parsed, sent, strict=True):
        assert event.details.id == details["id"]
        assert str(event.details.status) == details["status"]
        assert event.details.results == details["results"]


@PROPERTY
@given(
    st.text().filter(lambda data: "\n" not in data and "\r" not in data),
    st.sampled_from(sorted(TERMINAL_EVENTS)),
)
def test_any_task_event_data_is_parsed_or_skipped(data: str, name: str) -> None:
    (sse,) = read_stream(f"event: {name}\ndata: {data}\n\n".encode(), [])
    config = resolve_config(None, "http://127.0.0.1", max_retries=0, timeouts=Timeouts(), poll_interval=1)
    cursor = StreamCursor(config, ["trn-x"])
    try:
        parse_event(sse)
    except ResponseFormatError:
        assert cursor.read(sse) is None  # skipped, with a warning, and the cursor knows it missed one
        assert cursor.missed_event
