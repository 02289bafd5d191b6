"""Task apps written for the official SDK releases, run by the local runtime with that release's Python.

The runs are triggered through this repository's ``Render`` client. The official SDKs send a list result
unwrapped (a task returning ``[0, 1, 4, 9]`` has ``results == [0, 1, 4, 9]``) and wrap anything else in a
one-item list, so ``square(5)`` has ``results == [25]``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from benchmarks._venvs import INSTALL_TIMEOUT
from render_sdk import Render
from render_sdk.client import ListTaskRunsParams, TaskRunDetails, TaskRunStatus

from .official_sdks import COMPAT, OfficialSdk

# The first test also waits for the official SDKs to install (about 30 s from PyPI, more on a slow mirror).
pytestmark = [pytest.mark.timeout(INSTALL_TIMEOUT), pytest.mark.slow(seconds=12)]

WORKERS = COMPAT / "workers"


async def run_seed_tasks(url: str) -> dict[str, TaskRunDetails]:
    """Run the seed's tasks concurrently (0.3.0 polls subtasks once a second: no need to wait in series)."""
    calls = {
        "square": [5],
        "add_squares": [3, 4],
        "fan_out": [4],
        "sdk_version": [],
    }
    async with Render(base_url=url) as render:

        async def run(task: str, input_data: list[Any]) -> TaskRunDetails:
            return await (await render.workflows.run_task(f"official/{task}", input_data))

        finished = await asyncio.gather(*(run(task, input_data) for task, input_data in calls.items()))
        results = dict(zip(calls, finished, strict=True))
        for name in ("add_squares", "fan_out"):
            tree = await render.workflows.list_task_runs(
                ListTaskRunsParams(root_task_run_ids=[results[name].id], limit=100)
            )
            for run in tree:
                if run.id != results[name].id:
                    results[f"{name} child {run.id}"] = await render.workflows.get_task_run(run.id)
    return results


@pytest.mark.parametrize(
    ("distribution", "app"),
    [("render_sdk", "render_sdk_0_3_0"), ("render", "render_1_5_0")],
    ids=["render_sdk==0.3.0", "render==1.5.0"],
)
def test_official_task_app_runs_on_local_runtime(
    distribution: str, app: str, official_sdks: dict[str, OfficialSdk], start_local_runtime: Any
) -> None:
    sdk = official_sdks[distribution]
    # -E: the runtime's PYTHONPATH points at this repository, whose render_sdk would shadow the official one.
    runtime = start_local_runtime(
        [str(sdk.python), "-E", "main.py"], cwd=WORKERS / app, args=("--workflow-slug", "official")
    )
    results = asyncio.run(run_seed_tasks(runtime.url))

    for name, details in results.items():
        assert details.status == TaskRunStatus.COMPLETED, (name, details)
    assert results["sdk_version"].results == [sdk.version]
    assert results["square"].results == [25]
    assert results["add_squares"].results == [25]
    assert results["fan_out"].results == [0, 1, 4, 9]

    def children(parent: str) -> set[tuple[Any, ...]]:
        return {
            (tuple(details.input_ or ()), tuple(details.results or ()))
            for name, details in results.items()
            if name.startswith(f"{parent} child ") and details.parent_task_run_id == results[parent].id
        }

    # Sets, not lists: under 0.3.0 a second copy of the app in the same process may submit duplicates.
    assert children("add_squares") == {((3,), (9,)), ((4,), (16,))}
    assert children("fan_out") == {((i,), (i * i,)) for i in range(4)}


def test_render_1_5_0_metadata_is_the_rest_ids(
    official_sdks: dict[str, OfficialSdk], start_local_runtime: Any
) -> None:
    """``ctx.metadata`` of a root run and of its subtask carries the ids the REST API reports for them."""
    sdk = official_sdks["render"]
    runtime = start_local_runtime(
        [str(sdk.python), "-E", "main.py"], cwd=WORKERS / "render_1_5_0", args=("--workflow-slug", "official")
    )

    async def lineage() -> tuple[TaskRunDetails, list[TaskRunDetails]]:
        async with Render(base_url=runtime.url) as render:
            root = await (await render.workflows.run_task("official/lineage", []))
            tree = await render.workflows.list_task_runs(ListTaskRunsParams(root_task_run_ids=[root.id]))
            return root, [await render.workflows.get_task_run(run.id) for run in tree if run.id != root.id]

    root, children = asyncio.run(lineage())
    assert root.status == TaskRunStatus.COMPLETED, root
    (child,) = children
    assert child.parent_task_run_id == root.id
    assert root.results == [
        {
            "self": {"task_run_id": root.id, "root_task_run_id": root.id, "parent_task_run_id": None},
            "child": {"task_run_id": child.id, "root_task_run_id": root.id, "parent_task_run_id": root.id},
        }
    ]
