"""Drive the local runtime with the official ``render==1.5.0`` clients; print one JSON report.

Run with that release's Python (not this repository's). ``Render`` is the synchronous client there
(``run_task`` starts a run and waits for it, ``start_task`` only starts it) and ``RenderAsync`` the async
one (``start_task`` returns an awaitable run). Both find the runtime through ``RENDER_LOCAL_DEV_URL``.
Usage: ``python render_1_5_0.py WORKFLOW_SLUG``.
"""

import asyncio
import json
import sys
from typing import Any

from render import Render, RenderAsync
from render.client import ListTaskRunsParams


def wire(value: Any) -> Any:
    if isinstance(value, list):
        return [wire(item) for item in value]
    return value.to_dict() if hasattr(value, "to_dict") else value


def failure(exc: Exception) -> dict[str, str]:
    return {"raised": type(exc).__name__, "message": str(exc)}


def step(report: dict[str, Any], name: str, operation: Any, *args: Any) -> Any:
    """Record what ``operation(*args)`` returned (as wire JSON) or the exception it raised."""
    try:
        value = operation(*args)
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


if __name__ == "__main__":
    print(json.dumps({"sync": sync_client(sys.argv[1]), "async": asyncio.run(async_client(sys.argv[1]))}))
