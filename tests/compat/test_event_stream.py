"""The task-run event stream as the TypeScript SDK reads it: raw SSE over httpx, after the run has ended.

``@renderinc/sdk``'s ``taskRunEvents()`` reads until the caller breaks, and opens a new connection
(without ``Last-Event-ID``) about 250 ms after the server closes one. Render's dev server keeps the stream
open, so such a reader sees a finished run's event once; a server that closes after the last terminal event,
and replays it on every subscribe, hands it the same event again and again.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import httpx

from render_sdk import RenderSync

from .official_sdks import COMPAT

WORKER = COMPAT / "workers" / "ours"
SLUG = "compat"
READ_SECONDS = 3.0
RECONNECT_SECONDS = 0.25  # the TypeScript SDK's first reconnect delay


def finished_run(start_local_runtime: Any) -> tuple[Any, str]:
    server = start_local_runtime([sys.executable, "main.py"], cwd=WORKER, args=("--workflow-slug", SLUG))
    with RenderSync(base_url=server.url) as render:
        run = render.workflows.run_task(f"{SLUG}/square", [4]).wait()
    return server, run.id


def read_for_a_while(
    url: str, run_id: str, seconds: float, headers: dict[str, str] | None = None, reconnect: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """Read the stream for ``seconds``: each event frame's fields, and how many times the server closed it.

    With ``reconnect``, a closed stream is opened again after ``RECONNECT_SECONDS``, as the TypeScript SDK
    does.
    """
    deadline = time.monotonic() + seconds
    events: list[dict[str, Any]] = []
    closed = 0
    while time.monotonic() < deadline and (reconnect or not closed):
        timeout = httpx.Timeout(5.0, read=max(0.01, deadline - time.monotonic()))
        frame: dict[str, str] = {}
        try:
            with httpx.stream(
                "GET",
                f"{url}/v1/task-runs/events",
                params={"taskRunIds": run_id},
                headers={"Accept": "text/event-stream", **(headers or {})},
                timeout=timeout,
            ) as response:
                assert response.status_code == 200, response.read()
                for line in response.iter_lines():
                    if line == "":
                        if "event" in frame:
                            events.append({**frame, "data": json.loads(frame["data"])})
                        frame = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(":")
                        frame[name] = value.removeprefix(" ")
                    if time.monotonic() >= deadline:
                        return events, closed
            closed += 1
        except httpx.ReadTimeout:
            return events, closed  # silent until the deadline: the stream is still open
        time.sleep(RECONNECT_SECONDS)
    return events, closed


def test_reconnecting_reader_gets_a_finished_runs_event_once(start_local_runtime: Any) -> None:
    server, run_id = finished_run(start_local_runtime)
    events, closed = read_for_a_while(server.url, run_id, READ_SECONDS, reconnect=True)
    assert closed == 0, (
        f"the server closed the stream {closed} time(s) within {READ_SECONDS} s; "
        f"the reader got {len(events)} copies of the run's event"
    )
    assert [(event["event"], event["data"]["id"]) for event in events] == [("task.completed", run_id)]
    assert events[0]["data"]["status"] == "completed"


def test_reconnect_with_last_event_id_gets_only_what_it_missed(start_local_runtime: Any) -> None:
    server, run_id = finished_run(start_local_runtime)
    (event,), _ = read_for_a_while(server.url, run_id, 1.0)
    events, closed = read_for_a_while(server.url, run_id, 2.0, headers={"Last-Event-ID": event["id"]})
    assert events == []
    assert closed == 0, "the server closed the resumed stream instead of keeping it open"


def test_our_event_iterator_ends_once_its_runs_have_ended(start_local_runtime: Any) -> None:
    """Our ``task_run_events`` stops by itself, with one event per run, whether or not the server closes."""
    server, run_id = finished_run(start_local_runtime)
    seen: list[Any] = []

    def read() -> None:
        with RenderSync(base_url=server.url) as render:
            seen.extend(render.workflows.task_run_events([run_id]))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(15)
    assert not reader.is_alive(), "task_run_events kept reading after its only run had ended"
    assert [(event.event, event.details.id) for event in seen] == [("task.completed", run_id)]
