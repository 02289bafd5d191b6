"""Drive the local runtime with the official ``render_sdk==0.3.0`` client; print one JSON report.

Run with that release's Python (not this repository's). The client finds the runtime through
``RENDER_LOCAL_DEV_URL`` and insists on ``RENDER_API_KEY`` even then, so the test sets a dummy one.
Usage: ``python render_sdk_0_3_0.py WORKFLOW_SLUG``.
"""

import asyncio
import json
import sys
from typing import Any

from render_sdk import Render
from render_sdk.client import ListTaskRunsParams


async def step(report: dict[str, Any], name: str, operation: Any) -> Any:
    """Record what ``operation`` returned (as wire JSON) or the exception it raised."""
    try:
        value = await operation
    except Exception as exc:
        report[name] = {"raised": type(exc).__name__, "message": str(exc)}
        return None
    report[name] = wire(value)
    return value


def wire(value: Any) -> Any:
    if isinstance(value, list):
        return [wire(item) for item in value]
    return value.to_dict() if hasattr(value, "to_dict") else value


async def main(slug: str) -> dict[str, Any]:
    render = Render()
    workflows = render.workflows
    report: dict[str, Any] = {}

    started = await workflows.run_task(f"{slug}/square", [5])
    report["started"] = {"id": started.id, "status": started.status}
    await step(report, "awaited", started)
    await step(report, "got", workflows.get_task_run(started.id))
    await step(report, "listed", workflows.list_task_runs(ListTaskRunsParams(limit=10)))

    failing = await workflows.run_task(f"{slug}/always_fails", ["on purpose"])
    await step(report, "awaited_failure", failing)

    long_run = await workflows.run_task(f"{slug}/sleep", [300])
    report["long_started"] = {"id": long_run.id, "status": long_run.status}
    await step(report, "canceled", workflows.cancel_task_run(long_run.id))
    await step(report, "got_canceled", workflows.get_task_run(long_run.id))
    await step(report, "awaited_canceled", long_run)

    await step(report, "got_unknown", workflows.get_task_run("trn-doesnotexist"))
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
