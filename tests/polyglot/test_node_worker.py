"""A worker written in another language (plain Node.js, ``node_worker/worker.js``) under the local runtime.

The worker speaks the callback protocol from ``openapi/callback-api.yaml`` the way the TypeScript SDK does:
tasks registered with no ``options``, with a partial ``retry``, and with fields this runtime does not know;
subtasks through ``/run-subtask`` (with and without ``input``) and ``/get-subtask-result`` polling;
failures on purpose (with and without ``stack_trace``). The runs are driven by this repository's client.
Fields a worker leaves out take Render's defaults: no retries without ``retry`` or ``max_retries``, a first
wait of 0 ms, factor 2.0. ``GET /input`` tells the worker its run's ids, and editing the ``.js`` source
registers again.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from render_sdk import RenderSync
from render_sdk.client.errors import TaskRunError

WORKER = Path(__file__).resolve().parent / "node_worker"
SLUG = "polyglot"
REGISTERED = {
    "square",
    "add_squares",
    "lineage",
    "whoami",
    "fails_without_options",
    "fails_retry_without_max_retries",
    "fails_retry_without_wait",
    "fails_retry_without_factor",
    "subtask_fails",
    "subtask_without_input",
}


@pytest.fixture
def node() -> str:
    """The ``node`` executable: skipped with a reason where it is missing, but never under CI."""
    path = shutil.which("node")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("`node` is not installed under CI: .ci/run must install nodejs")
        pytest.skip("`node` is not installed (apt-get install nodejs); CI always runs this test")
    return path


@pytest.fixture
def server(node: str, shared_runtime: Any) -> Any:
    """The worker's server, shared by the tests that read only the runs they start."""
    return shared_runtime([node, "worker.js"], cwd=WORKER, args=("--workflow-slug", SLUG))


def registered_tasks(server: Any) -> set[str]:
    listed = httpx.get(f"{server.url}/v1/tasks", params={"limit": 100}).json()
    return {item["task"]["name"].rsplit("/", 1)[-1] for item in listed}


def details(server: Any, run_id: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{server.url}/v1/task-runs/{run_id}").json()
    return body


def run_failing(server: Any, task: str) -> dict[str, Any]:
    """Run ``task`` to its end, expecting it to fail; return its details as the REST API reports them."""
    with RenderSync(base_url=server.url) as render:
        run = render.workflows.run_task(f"{SLUG}/{task}", [])
        with pytest.raises(TaskRunError) as caught:
            run.wait()
    assert f"{task} failed on purpose" in str(caught.value)
    body = details(server, run.id)
    assert body["status"] == "failed"
    assert all(attempt["status"] == "failed" for attempt in body["attempts"])
    assert all(f"{task} failed on purpose" in attempt["error"] for attempt in body["attempts"])
    return body


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def gaps_ms(attempts: list[dict[str, Any]]) -> list[float]:
    """Milliseconds from each attempt's end to the next one's start: the retry waits the runtime applied."""
    return [
        (moment(later["startedAt"]) - moment(earlier["completedAt"])).total_seconds() * 1000
        for earlier, later in itertools.pairwise(attempts)
    ]


def test_registers_tasks_without_options_and_with_partial_retry(server: Any) -> None:
    assert not [line for line in server.output if "Registration failed" in line], "\n".join(server.output)
    assert registered_tasks(server) == REGISTERED
    # square registered one parameter (no type, no default): a second argument is refused before any run.
    answer = httpx.post(f"{server.url}/v1/task-runs", json={"task": f"{SLUG}/square", "input": [1, 2]})
    assert answer.status_code == 400, answer.text
    assert "square(a)" in answer.json()["message"]


def test_runs_tasks_and_subtasks(server: Any) -> None:
    with RenderSync(base_url=server.url) as render:
        square = render.workflows.run_task(f"{SLUG}/square", [7]).wait()
        added = render.workflows.run_task(f"{SLUG}/add_squares", [3, 4]).wait()
    assert square.results == [49]
    assert added.results == [25]
    tree = httpx.get(f"{server.url}/v1/task-runs", params={"rootTaskRunId": added.id}).json()
    children = [item["taskRun"] for item in tree if item["taskRun"]["id"] != added.id]
    assert [child["status"] for child in children] == ["completed", "completed"]
    assert {child["parentTaskRunId"] for child in children} == {added.id}
    assert sorted(tuple(details(server, child["id"])["results"]) for child in children) == [(9,), (16,)]


def test_input_carries_the_run_ids(server: Any) -> None:
    with RenderSync(base_url=server.url) as render:
        finished = render.workflows.run_task(f"{SLUG}/lineage", []).wait()
    (seen,) = finished.results
    tree = httpx.get(f"{server.url}/v1/task-runs", params={"rootTaskRunId": finished.id}).json()
    (child_id,) = [item["taskRun"]["id"] for item in tree if item["taskRun"]["id"] != finished.id]
    root = finished.id
    assert seen == {
        "self": {"task_run_id": root, "root_task_run_id": root, "parent_task_run_id": None},
        "child": {"task_run_id": child_id, "root_task_run_id": root, "parent_task_run_id": root},
    }


def test_task_without_options_fails_after_one_attempt(server: Any) -> None:
    body = run_failing(server, "fails_without_options")
    assert len(body["attempts"]) == 1
    assert body["retries"] == 0


def test_retry_without_max_retries_means_no_retries(server: Any) -> None:
    body = run_failing(server, "fails_retry_without_max_retries")
    assert len(body["attempts"]) == 1
    assert body["retries"] == 0


def test_retry_without_wait_retries_at_once(server: Any) -> None:
    body = run_failing(server, "fails_retry_without_wait")
    assert len(body["attempts"]) == 2
    assert body["retries"] == 1
    # 0 ms plus scheduling; a second would mean some default wait (1.5.0's README example uses 1000 ms).
    (gap,) = gaps_ms(body["attempts"])
    assert gap < 1000, body["attempts"]


def test_retry_without_factor_doubles_the_wait(server: Any) -> None:
    # wait_duration_ms=300 and no factor: 300 ms, then 600 ms (factor 2.0). Lower bounds only: a loaded
    # machine adds time, and 600 ms also tells 2.0 from the Python SDK's 1.5 (450 ms).
    body = run_failing(server, "fails_retry_without_factor")
    assert len(body["attempts"]) == 3
    assert body["retries"] == 2
    first, second = gaps_ms(body["attempts"])
    assert first >= 300 - 1, body["attempts"]
    assert second >= 600 - 1, body["attempts"]


def test_failed_subtask_reaches_its_parent_as_an_error(server: Any) -> None:
    with RenderSync(base_url=server.url) as render:
        finished = render.workflows.run_task(f"{SLUG}/subtask_fails", []).wait()
    (outcome,) = finished.results
    assert "fails_without_options failed on purpose" in outcome["caught"]
    tree = httpx.get(f"{server.url}/v1/task-runs", params={"rootTaskRunId": finished.id}).json()
    (child,) = [item["taskRun"] for item in tree if item["taskRun"]["id"] != finished.id]
    assert child["status"] == "failed"
    assert len(child["attempts"]) == 1


def test_subtask_request_without_input_runs_with_no_arguments(server: Any) -> None:
    with RenderSync(base_url=server.url) as render:
        finished = render.workflows.run_task(f"{SLUG}/subtask_without_input", []).wait()
    (child_ids,) = finished.results
    assert child_ids["parent_task_run_id"] == finished.id
    child = details(server, child_ids["task_run_id"])
    assert child["status"] == "completed"
    assert child["input"] == []


def test_changed_javascript_source_registers_again(
    node: str, start_local_runtime: Any, tmp_path: Path
) -> None:
    source = tmp_path / "worker.js"
    shutil.copy(WORKER / "worker.js", source)
    server = start_local_runtime([node, "worker.js"], cwd=tmp_path, args=("--workflow-slug", SLUG))
    assert registered_tasks(server) == REGISTERED
    source.write_text(source.read_text().replace("const TASKS = [", 'const TASKS = [\n  { name: "added" },'))
    deadline = time.monotonic() + 20
    while registered_tasks(server) != REGISTERED | {"added"}:
        assert time.monotonic() < deadline, (
            "editing worker.js did not register the tasks again\n" + "\n".join(server.output)
        )
        time.sleep(0.1)
