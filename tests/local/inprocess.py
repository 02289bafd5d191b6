"""The local API in-process: the guard and app ``render-workflows dev`` serves, over an in-memory store with
one task (``wf/pair(a, b=1)``), called through ``httpx.ASGITransport``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import httpx

from render_sdk.local.api.app import build_app
from render_sdk.local.api.guard import GuardPolicy, RequestGuard
from render_sdk.local.engine.records import TaskParameter, TaskRecord, TaskSpec, VersionRecord, WorkflowRecord
from render_sdk.local.engine.states import RunStates
from render_sdk.local.engine.store import Store
from render_sdk.local.limits import REST_BODY_BYTES

MOMENT = datetime(2026, 1, 1, tzinfo=timezone.utc)


def local_api(
    extra_hosts: Sequence[str] = (), closing: asyncio.Event | None = None
) -> tuple[RequestGuard, Store]:
    """The guarded app over an in-memory store with one task, ``wf/pair(a, b=1)``, and that store."""
    store = Store(None)
    store.put_workflow(WorkflowRecord("wfl-1", "wf", "python main.py", MOMENT, MOMENT))
    store.add_version(VersionRecord("wfv-1", "wfl-1", "local-1", "ready", MOMENT))
    spec = TaskSpec("pair", (TaskParameter("a", False), TaskParameter("b", True)))
    store.upsert_task(TaskRecord(0, "tsk-1", "pair", "wfl-1", "wfv-1", spec, True, MOMENT))
    app = build_app(store, RunStates(store), closing=closing)
    return RequestGuard(app, GuardPolicy.for_address("127.0.0.1", extra_hosts, REST_BODY_BYTES)), store


def request(app: RequestGuard, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request to ``app``, as from ``http://127.0.0.1:8120``."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8120") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(send())
