"""render 1.5.0's README task app (``workers/render_1_5_0_readme``) on this repository's SDK and runtime.

The app is the README's code with only ``from render import ...`` changed to ``from render_sdk import ...``:
every task takes ``ctx: TaskContext`` first, subtasks go through ``ctx.run`` (one after another, and in
parallel with ``asyncio.gather``), and the app uses ``Workflows(default_retry=..., default_timeout=...,
default_plan=...)`` and ``app.start()``. (Under render 1.5.0 itself this app stops at import:
``@app.task(timeout=60, ...)`` is spelled ``timeout_seconds=`` there.)
"""

from __future__ import annotations

import sys
from typing import Any

import httpx

from render_sdk import RenderSync

from .official_sdks import COMPAT

WORKER = COMPAT / "workers" / "render_1_5_0_readme"
SLUG = "readme"
CALLS: list[tuple[str, Any, Any]] = [
    ("square", [5], 25),
    ("add_squares", [3, 4], 25),
    ("add_squares", {"a": 1, "b": 2}, 5),
    ("sum_squares", [[1, 2, 3]], 14),
    ("quick_task", [1], 2),
    ("retryable_task", [4], 8),
]


def test_readme_task_app_registers_and_runs_every_task(start_local_runtime: Any) -> None:
    server = start_local_runtime([sys.executable, "main.py"], cwd=WORKER, args=("--workflow-slug", SLUG))
    assert not [line for line in server.output if "Registration failed" in line], "\n".join(server.output)
    listed = httpx.get(f"{server.url}/v1/tasks", params={"limit": 100}).json()
    assert {item["task"]["name"].rsplit("/", 1)[-1] for item in listed} == {
        "square",
        "add_squares",
        "sum_squares",
        "quick_task",
        "retryable_task",
    }

    with RenderSync(base_url=server.url) as render:
        finished = [render.workflows.run_task(f"{SLUG}/{task}", data).wait() for task, data, _ in CALLS]
    assert [run.results for run in finished] == [[expected] for _, _, expected in CALLS]

    def children(run_id: str) -> list[Any]:
        tree = httpx.get(f"{server.url}/v1/task-runs", params={"rootTaskRunId": run_id}).json()
        return sorted(
            tuple(httpx.get(f"{server.url}/v1/task-runs/{item['taskRun']['id']}").json()["input"])
            for item in tree
            if item["taskRun"]["parentTaskRunId"] == run_id
        )

    assert children(finished[1].id) == [(3,), (4,)]
    assert children(finished[3].id) == [(1,), (2,), (3,)]
    # The context is not a registered parameter: square takes exactly one argument.
    answer = httpx.post(f"{server.url}/v1/task-runs", json={"task": f"{SLUG}/square", "input": [1, 2]})
    assert answer.status_code == 400, answer.text
    assert "square(a)" in answer.json()["message"]
