"""Drive the local runtime with the official ``render==1.5.0`` clients; print one JSON report.

Run with that release's Python (not this repository's). ``Render`` is the synchronous client there
(``run_task`` starts a run and waits for it, ``start_task`` only starts it) and ``RenderAsync`` the async
one (``start_task`` returns an awaitable run). Both find the runtime through ``RENDER_LOCAL_DEV_URL``.
Usage: ``python render_1_5_0.py WORKFLOW_SLUG [SECTION...]``, sections ``sync`` and ``async`` (the default),
``idempotency``, ``errors`` and ``events``.
"""

import asyncio
import json
import sys
import threading
import time
from typing import Any

from render import Render, RenderAsync
from render.client import ListTaskRunsParams


def wire(value: Any) -> Any:
    if isinstance(value, list):
        return [wire(item) for item in value]
    return value.to_dict() if hasattr(value, "to_dict") else value


def failure(exc: Exception) -> dict[str, Any]:
    """The exception's class, message and ``code`` (1.5.0's machine-readable code from the error body)."""
    return {"raised": type(exc).__name__, "message": str(exc), "code": getattr(exc, "code", None)}


def step(report: dict[str, Any], name: str, operation: Any, *args: Any, **kwargs: Any) -> Any:
    """Record what ``operation(*args, **kwargs)`` returned (as wire JSON) or the exception it raised."""
    try:
        value = operation(*args, **kwargs)
    except Exception as exc:
        report[name] = failure(exc)
        return None
    report[name] = wire(value)
    return value


async def astep(report: dict[str, Any], name: str, operation: Any) -> Any:
    try:
        value = await operation
    except Exception as exc:
        report[name] = failure(exc)
        return None
    report[name] = wire(value)
    return value


def sync_client(slug: str) -> dict[str, Any]:
    workflows = Render().workflows
    report: dict[str, Any] = {}
    finished = step(report, "ran", workflows.run_task, f"{slug}/square", [5])
    step(report, "got", workflows.get_task_run, finished.id)
    step(report, "listed", workflows.list_task_runs, ListTaskRunsParams(limit=10))
    step(report, "ran_failure", workflows.run_task, f"{slug}/always_fails", ["on purpose"])
    long_run = step(report, "long_started", workflows.start_task, f"{slug}/sleep", [300])
    step(report, "canceled", workflows.cancel_task_run, long_run.id)
    step(report, "got_canceled", workflows.get_task_run, long_run.id)
    step(report, "got_unknown", workflows.get_task_run, "trn-doesnotexist")
    return report


async def async_client(slug: str) -> dict[str, Any]:
    workflows = RenderAsync().workflows
    report: dict[str, Any] = {}
    started = await workflows.start_task(f"{slug}/square", {"a": 7})
    report["started"] = {"id": started.id, "status": started.status}
    await astep(report, "awaited", started)
    await astep(report, "got", workflows.get_task_run(started.id))
    await astep(report, "listed", workflows.list_task_runs(ListTaskRunsParams(limit=10)))
    long_run = await workflows.start_task(f"{slug}/sleep", [300])
    await astep(report, "canceled", workflows.cancel_task_run(long_run.id))
    await astep(report, "awaited_canceled", long_run)
    return report


def idempotency(slug: str) -> dict[str, Any]:
    """Start runs with idempotency keys: twice with one key (different inputs), once with another."""
    workflows = Render().workflows
    report: dict[str, Any] = {}
    step(report, "first", workflows.start_task, f"{slug}/square", [3], idempotency_key="compat-key")
    step(report, "again", workflows.start_task, f"{slug}/square", [4], idempotency_key="compat-key")
    step(report, "other_key", workflows.start_task, f"{slug}/square", [5], idempotency_key="compat-other")
    step(report, "ran_again", workflows.run_task, f"{slug}/square", [6], idempotency_key="compat-key")
    step(report, "listed", workflows.list_task_runs, ListTaskRunsParams(limit=100))
    return report


def errors(slug: str) -> dict[str, Any]:
    """Requests the runtime refuses: an unknown run, an unknown task, an argument the task does not take."""
    workflows = Render().workflows
    report: dict[str, Any] = {}
    step(report, "unknown_run", workflows.get_task_run, "trn-doesnotexist")
    step(report, "unknown_task", workflows.start_task, f"{slug}/no_such_task", [])
    step(report, "bad_input", workflows.start_task, f"{slug}/square", {"nope": 1})
    return report


EVENT_READ_SECONDS = 3.0


def events(slug: str) -> dict[str, Any]:
    """Read both clients' event iterators for a finished run for a few seconds, as 1.5.0's README does.

    Each reader records the events it got, whether its iterator ended by itself, and what it raised.
    """
    finished = Render().workflows.run_task(f"{slug}/square", [6])
    lock = threading.Lock()
    report: dict[str, Any] = {"run": finished.id}

    def record(seen: dict[str, Any], **facts: Any) -> None:
        with lock:
            if "event" in facts:
                seen["events"].append({"id": facts["event"].id, "status": str(facts["event"].status)})
            else:
                seen.update(facts)

    def read_sync(seen: dict[str, Any]) -> None:
        try:
            for event in Render().workflows.task_run_events([finished.id]):
                record(seen, event=event)
        except Exception as exc:
            record(seen, raised=failure(exc))
        record(seen, ended=True)

    async def read_async(seen: dict[str, Any]) -> None:
        try:
            async for event in RenderAsync().workflows.task_run_events([finished.id]):
                record(seen, event=event)
        except Exception as exc:
            record(seen, raised=failure(exc))
        record(seen, ended=True)

    async def read_async_for_a_while(seen: dict[str, Any]) -> None:
        reader = asyncio.ensure_future(read_async(seen))
        await asyncio.sleep(EVENT_READ_SECONDS)
        reader.cancel()

    report["sync"] = {"events": [], "ended": False}
    report["async"] = {"events": [], "ended": False}
    # A daemon thread: an iterator that never ends (what a server keeping the stream open gives) is left
    # reading when the process exits.
    threading.Thread(target=read_sync, args=(report["sync"],), daemon=True).start()
    began = time.monotonic()
    asyncio.run(read_async_for_a_while(report["async"]))
    time.sleep(max(0.0, EVENT_READ_SECONDS - (time.monotonic() - began)))
    with lock:
        snapshot: dict[str, Any] = json.loads(json.dumps(report))
    return snapshot


SECTIONS = {
    "sync": sync_client,
    "async": lambda slug: asyncio.run(async_client(slug)),
    "idempotency": idempotency,
    "errors": errors,
    "events": events,
}

if __name__ == "__main__":
    slug, names = sys.argv[1], sys.argv[2:] or ["sync", "async"]
    report = {name: SECTIONS[name](slug) for name in names}
    print(json.dumps(report), flush=True)
