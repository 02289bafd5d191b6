"""Helpers for client tests: a fake Render API behind ``httpx.MockTransport``, usable by both clients.

``Flavor`` runs the same scenario against :class:`Render` (each call in ``asyncio.run``) and
:class:`RenderSync`, so async and sync behaviour are tested side by side.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from render_sdk.client import Render, RenderSync

ROOT = Path(__file__).resolve().parents[2]


def task_run(run_id: str = "trn-1", status: str = "pending", **extra: Any) -> dict[str, Any]:
    """A TaskRun body as the API sends it."""
    body = {
        "id": run_id,
        "taskId": "tsk-1",
        "status": status,
        "parentTaskRunId": "",
        "rootTaskRunId": run_id,
        "retries": 0,
        "attempts": [],
    }
    body.update(extra)
    return body


def details(run_id: str = "trn-1", status: str = "completed", **extra: Any) -> dict[str, Any]:
    """A TaskRunDetails body."""
    body = task_run(run_id, status, results=[25] if status in ("completed", "succeeded") else [], input=[5])
    body.update(extra)
    return body


def frame(event: str, data: Any, event_id: str | None = None) -> bytes:
    """One SSE frame."""
    text = "" if event_id is None else f"id: {event_id}\n"
    text += f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
    return text.encode()


class Stream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body made of chunks, for either client; ``hold=True`` keeps it open after the chunks."""

    def __init__(self, chunks: list[bytes], hold: bool = False) -> None:
        self.chunks = chunks
        self.hold = hold

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        # A sync stream cannot wait for a cancel; an open stream ends here and the client reconnects.

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
            await asyncio.sleep(0)
        if self.hold:
            await asyncio.Event().wait()


def sse(chunks: list[bytes], hold: bool = True) -> httpx.Response:
    """An event-stream response."""
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Stream(chunks, hold))


class Flavor:
    """Builds a client of one flavor over a handler and runs its calls to completion."""

    def __init__(self, name: str) -> None:
        self.name = name
        #: When set (by the ``sleeps`` fixture), clients record their pauses here instead of sleeping.
        self.sleeps: list[float] | None = None

    def client(self, handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> Any:
        kwargs.setdefault("token", "rnd_test_secret")
        kwargs.setdefault("base_url", "https://api.render.com")
        render: Render | RenderSync
        if self.name == "async":
            render = Render(transport=httpx.MockTransport(handler), **kwargs)
        else:
            render = RenderSync(transport=httpx.MockTransport(handler), **kwargs)
        if self.sleeps is not None:
            render._sleep = recording_sleep(self.sleeps, asynchronous=self.name == "async")
        return render

    def run(self, value: Any) -> Any:
        """The value itself (sync) or the coroutine's result (async)."""
        return asyncio.run(value) if inspect.iscoroutine(value) else value

    def collect(self, iterator: Any) -> list[Any]:
        """All items of an iterator or async iterator."""
        if self.name == "sync":
            return list(iterator)

        async def drain() -> list[Any]:
            return [item async for item in iterator]

        return asyncio.run(drain())

    def wait(self, run: Any, timeout: float | None = None) -> Any:
        return self.run(run.wait(timeout=timeout))


@pytest.fixture(params=["async", "sync"])
def flavor(request: pytest.FixtureRequest) -> Flavor:
    return Flavor(request.param)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RENDER_API_KEY", "RENDER_LOCAL_DEV_URL", "RENDER_USE_LOCAL_DEV"):
        monkeypatch.delenv(name, raising=False)


def recording_sleep(recorded: list[float], *, asynchronous: bool) -> Any:
    """A client's sleep that records each pause and returns at once (the async one yields to the loop)."""

    async def async_sleep(delay: float) -> None:
        if delay > 0:
            recorded.append(delay)
        await asyncio.sleep(0)

    def sync_sleep(delay: float) -> None:
        if delay > 0:
            recorded.append(delay)

    return async_sleep if asynchronous else sync_sleep


@pytest.fixture
def sleeps(flavor: Flavor) -> list[float]:
    """The pauses the flavor's clients ask for, recorded instead of slept (injected: nothing is patched)."""
    flavor.sleeps = []
    return flavor.sleeps
