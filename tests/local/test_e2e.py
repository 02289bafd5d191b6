"""End-to-end: the local runtime (a subprocess) and real worker processes, driven by Render and RenderSync.

The scenarios marked ``MODES`` run twice: with cold starts (a process of the worker command per attempt) and
with ``--prefork`` (attempts forked from a pre-imported worker); both must behave the same from the outside.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from render_sdk import Render, RenderSync
from render_sdk.client.errors import TaskRunError

from .processes import HTTP, parent_of, peak_concurrency, pid_alive, wait_until, zygote_pid

pytestmark = pytest.mark.slow(seconds=27)

WORKERS = Path(__file__).resolve().parent / "workers"
EXAMPLE_WORKFLOWS = Path(__file__).resolve().parents[2] / "examples" / "workflows"
MODES = pytest.mark.parametrize("prefork", [False, True], ids=["cold", "prefork"])
TEST_TIMEOUT_SECONDS = 1.0


@dataclass
class Started:
    """A server in one of the two modes; ``zygote`` is the prefork zygote's pid (None for cold starts)."""

    server: Any
    zygote: int | None

    @property
    def url(self) -> str:
        return str(self.server.url)


def start_in_mode(start: Any, prefork: bool, cwd: Path = WORKERS, args: Sequence[str] = ()) -> Started:
    """A server of ``cwd/main.py`` in the mode; ``start`` is ``start_local_runtime`` or ``shared_runtime``."""
    mode_args = ["--prefork"] if prefork else []
    server = start([sys.executable, "main.py"], cwd=cwd, args=[*mode_args, *args])
    return Started(server, zygote_pid(server) if prefork else None)


SHARED_ARGS = ("--max-concurrency", "4")
"""The options of the shared servers the scenarios below use (one per mode)."""


@MODES
def test_seed_tasks_through_render(shared_runtime: Any, prefork: bool) -> None:
    started = start_in_mode(shared_runtime, prefork, cwd=EXAMPLE_WORKFLOWS)

    async def main() -> dict[str, Any]:
        async with Render(base_url=started.url) as render:
            first = await render.workflows.run_task("my-workflow/square", [5])
            assert first.id.startswith("trn-")
            assert str(first.status) in ("pending", "TaskRunStatus.PENDING")
            square = await first
            add = await (await render.workflows.run_task("my-workflow/add_squares", [3, 4]))
            fan = await (await render.workflows.run_task("my-workflow/fan_out", [4]))
            named = await (await render.workflows.run_task("anything/greet:v1", {"name": "Ada"}))
            failing = await render.workflows.run_task("my-workflow/always_fails", ["broken on purpose"])
            with pytest.raises(TaskRunError) as caught:
                await failing
            assert "ValueError: broken on purpose" in str(caught.value)
            return {"square": square, "add": add, "fan": fan, "named": named}

    results = asyncio.run(main())
    assert results["square"].results == [25]
    assert str(results["square"].status).endswith(("completed", "COMPLETED"))
    assert results["add"].results == [25]
    assert results["fan"].results == [[0, 1, 4, 9]]
    assert results["named"].results == ["Hello, Ada!"]
    # fan_out's subtasks are children of its run, in the same tree.
    runs = HTTP.get(f"{started.url}/v1/task-runs", params={"rootTaskRunId": results["fan"].id}).json()
    children = [item["taskRun"] for item in runs if item["taskRun"]["id"] != results["fan"].id]
    assert len(children) == 4
    assert {child["parentTaskRunId"] for child in children} == {results["fan"].id}


@MODES
def test_worker_exiting_without_a_result_fails_the_attempt(shared_runtime: Any, prefork: bool) -> None:
    started = start_in_mode(shared_runtime, prefork, args=SHARED_ARGS)
    with RenderSync(base_url=started.url) as render:
        run = render.workflows.run_task("wf/exit_hard", [3])
        with pytest.raises(TaskRunError) as caught:
            run.wait(timeout=60)
    assert "exited with status 3" in str(caught.value)
    assert "about to exit hard" in str(caught.value)
    logs = HTTP.get(f"{started.url}/v1/logs", params={"taskRun": run.id}).json()["logs"]
    assert any(log["message"] == "about to exit hard" for log in logs)


@MODES
def test_task_past_its_timeout_is_stopped(start_local_runtime: Any, prefork: bool) -> None:
    # The engine tests prove a task's own timeout_seconds is what counts (30 s for `hang`); here a test-only
    # limit makes the real process time out sooner, so the kill is proven without waiting 30 s.
    started = start_in_mode(
        start_local_runtime, prefork, args=["--test-timeout-seconds", str(TEST_TIMEOUT_SECONDS)]
    )
    began = time.monotonic()
    with RenderSync(base_url=started.url) as render:
        run = render.workflows.run_task("wf/hang", [90])
        with pytest.raises(TaskRunError) as caught:
            run.wait(timeout=60)
    elapsed = time.monotonic() - began
    assert "timed out after 1 s" in str(caught.value)
    assert TEST_TIMEOUT_SECONDS - 0.1 < elapsed < 30
    body = HTTP.get(f"{started.url}/v1/task-runs/{run.id}").json()
    assert [attempt["status"] for attempt in body["attempts"]] == ["failed"]


@MODES
def test_cancel_fan_out_tree_stops_every_process(shared_runtime: Any, tmp_path: Path, prefork: bool) -> None:
    started = start_in_mode(shared_runtime, prefork, args=SHARED_ARGS)
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    with RenderSync(base_url=started.url) as render:
        run = render.workflows.run_task("wf/sleepy_fan_out", [str(pid_dir), 3])
        # parent + 3 sleepers + 3 grandchildren
        wait_until(lambda: len(list(pid_dir.iterdir())) == 7, message="all processes started")
        pids = [int(path.stem) for path in pid_dir.iterdir()]  # the name is written first
        assert all(pid_alive(pid) for pid in pids)
        if started.zygote is not None:  # the parent and the 3 sleepers were forked
            assert sum(parent_of(pid) == started.zygote for pid in pids) == 4
        render.workflows.cancel_task_run(run.id)
        details = render.workflows.get_task_run(run.id)
    assert str(details.status).lower().endswith("canceled")
    wait_until(lambda: not any(pid_alive(pid) for pid in pids), timeout=15, message="every process stopped")
    tree = HTTP.get(f"{started.url}/v1/task-runs", params={"rootTaskRunId": run.id}).json()
    assert len(tree) == 4
    assert {item["taskRun"]["status"] for item in tree} == {"canceled"}
    # Cancelling again is a clear client error.
    response = HTTP.delete(f"{started.url}/v1/task-runs/{run.id}")
    assert response.status_code == 409
    assert "already canceled" in response.json()["message"]
    if started.zygote is not None:
        assert pid_alive(started.zygote)


@MODES
def test_concurrency_limit_holds_across_fifty_runs(
    shared_runtime: Any, tmp_path: Path, prefork: bool
) -> None:
    started = start_in_mode(shared_runtime, prefork, args=SHARED_ARGS)
    log_path = tmp_path / "overlap.log"

    async def start_all() -> list[str]:
        async with Render(base_url=started.url) as render:
            runs = await asyncio.gather(
                *[render.workflows.run_task("wf/record", [str(log_path), 0.2]) for _ in range(50)]
            )
            statuses = {str(run.status).lower().rsplit(".", 1)[-1] for run in runs}
            assert statuses == {"pending"}
            return [run.id for run in runs]

    run_ids = asyncio.run(start_all())
    with RenderSync(base_url=started.url) as render:
        finished = [render.workflows.wait_for_task_run(run_id, timeout=60) for run_id in run_ids]
    assert len({run.id for run in finished}) == 50
    assert all(str(run.status).lower().endswith("completed") for run in finished)
    assert len({run.results[0] for run in finished}) == 50  # a process per attempt
    assert 2 <= peak_concurrency(log_path) <= 4
    if started.zygote is not None:
        assert pid_alive(started.zygote)


def test_nested_subtasks_complete_at_any_concurrency(start_local_runtime: Any) -> None:
    # Parents that only wait give their slots up, so neither shape can deadlock: at the default limit (8 on
    # two cores) the tree's 15 waiting parents once held every slot, and a chain needs one slot per link.
    server = start_local_runtime([sys.executable, "main.py"], cwd=WORKERS)
    with RenderSync(base_url=server.url) as render:
        assert render.workflows.run_task("wf/tree", [4, 2]).wait(timeout=90).results == [31]
    for limit in ("1", "2"):
        server = start_local_runtime(
            [sys.executable, "main.py"], cwd=WORKERS, args=["--max-concurrency", limit]
        )
        with RenderSync(base_url=server.url) as render:
            assert render.workflows.run_task("wf/chain", [3]).wait(timeout=60).results == [3]


def test_seed_tasks_through_render_sync(local_runtime: Any) -> None:
    with RenderSync(base_url=local_runtime.url) as render:
        finished = render.workflows.run_task("my-workflow/square", [9]).wait()
        assert finished.results == [81]
        again = render.workflows.get_task_run(finished.id)
        assert again.results == [81]
        assert again.attempts[0].status is not None
        page = render.workflows.list_task_runs()
        assert finished.id in [run.id for run in page]


def test_retry_recovers_after_two_failures(local_runtime: Any, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    with RenderSync(base_url=local_runtime.url) as render:
        finished = render.workflows.run_task("wf/flaky", [str(counter), 2]).wait()
    assert finished.results == ["succeeded on attempt 3"]
    assert finished.retries == 2
    body = HTTP.get(f"{local_runtime.url}/v1/task-runs/{finished.id}").json()
    assert [attempt["status"] for attempt in body["attempts"]] == ["failed", "failed", "completed"]
    assert [attempt["attempt"] for attempt in body["attempts"]] == [0, 1, 2]
    assert "attempt 1 failed on purpose" in body["attempts"][0]["error"]
    assert all(attempt["completedAt"] >= attempt["startedAt"] for attempt in body["attempts"])
    (listed,) = HTTP.get(f"{local_runtime.url}/v1/task-runs", params={"rootTaskRunId": finished.id}).json()
    assert [attempt["attempt"] for attempt in listed["taskRun"]["attempts"]] == [0, 1, 2]
    assert listed["taskRun"]["retries"] == 2


def test_always_failing_task_uses_every_attempt(local_runtime: Any) -> None:
    async def main() -> TaskRunError:
        async with Render(base_url=local_runtime.url) as render:
            started = await render.workflows.run_task("wf/always_fails", ["broken on purpose"])
            with pytest.raises(TaskRunError) as caught:
                await started
            return caught.value

    error = asyncio.run(main())
    assert "broken on purpose" in str(error)
    body = HTTP.get(f"{local_runtime.url}/v1/task-runs/{error.task_run_id}").json()
    assert body["status"] == "failed"
    assert len(body["attempts"]) == body["retries"] + 1 == 2  # always_fails has max_retries=1


@MODES
def test_server_killed_and_restarted_loses_nothing(
    start_local_runtime: Any, tmp_path: Path, prefork: bool
) -> None:
    db_path = tmp_path / "runs.sqlite3"
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    mode_args = ["--prefork"] if prefork else []
    first = start_local_runtime([sys.executable, "main.py"], cwd=WORKERS, db_path=db_path, args=mode_args)
    with RenderSync(base_url=first.url) as render:
        done = [render.workflows.run_task("wf/square", [n]).wait() for n in range(3)]
        in_flight = render.workflows.run_task("wf/slow_then_done", [str(pid_dir), 120])
        wait_until(lambda: list(pid_dir.iterdir()), message="the slow attempt started")
    orphan = int(next(pid_dir.iterdir()).stem)  # the name is written first
    first.kill()
    assert pid_alive(orphan)  # nobody stops it: its server is gone (with prefork, its zygote too)

    second = start_local_runtime([sys.executable, "main.py"], cwd=WORKERS, db_path=db_path, args=mode_args)
    wait_until(lambda: not pid_alive(orphan), timeout=5, message="the orphaned attempt stopped")
    stopped = second.wait_for_output(f"stopped  process group {orphan}")
    with RenderSync(base_url=second.url) as render:
        listed = {run.id for run in render.workflows.list_task_runs()}
        assert {run.id for run in done} | {in_flight.id} <= listed
        for run in done:
            assert render.workflows.get_task_run(run.id).results == run.results
        finished = render.workflows.wait_for_task_run(in_flight.id, timeout=60)
    assert finished.results == ["done"]
    retried = second.wait_for_output(f"running  {in_flight.id}")
    assert second.output.index(stopped) < second.output.index(retried)  # stopped before the retry started
    body = HTTP.get(f"{second.url}/v1/task-runs/{in_flight.id}").json()
    assert body["attempts"][0]["status"] == "failed"
    assert "local runtime restarted" in body["attempts"][0]["error"]
    assert body["attempts"][-1]["status"] == "completed"
