"""What goes on the wire for each operation, and what comes back to the caller."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
import yaml

from render_sdk.client import ListTaskRunsParams, ListTasksParams, TaskRunStatus
from render_sdk.client import _operations as ops
from render_sdk.client.types import TaskRun, TaskRunDetails
from tests.client.conftest import ROOT, Flavor, details, task_run


def recorder(responses: dict[tuple[str, str], Any]) -> tuple[list[httpx.Request], Any]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = responses[(request.method, request.url.path)]
        return answer if isinstance(answer, httpx.Response) else httpx.Response(200, json=answer)

    return seen, handler


def test_run_task_posts_task_and_input(flavor: Flavor) -> None:
    seen, handler = recorder({("POST", "/v1/task-runs"): httpx.Response(202, json=task_run())})
    render = flavor.client(handler)
    started = flavor.run(render.workflows.run_task(task_identifier="my-workflow/square", input_data=[5]))
    assert (started.id, started.status) == ("trn-1", "pending")
    assert started.status == TaskRunStatus.PENDING and f"{started.status}" == "pending"
    assert isinstance(started.task_run, TaskRun)
    request = seen[0]
    assert request.url == "https://api.render.com/v1/task-runs"
    body = json.loads(request.content)
    assert body.pop("idempotencyKey")
    assert body == {"task": "my-workflow/square", "input": [5]}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer rnd_test_secret"


@pytest.mark.parametrize(
    ("input_data", "sent"),
    [((1, "a"), [1, "a"]), ({"name": "Ada", "n": [1.5]}, {"name": "Ada", "n": [1.5]}), ([], [])],
)
def test_run_task_input_shapes(flavor: Flavor, input_data: Any, sent: Any) -> None:
    seen, handler = recorder({("POST", "/v1/task-runs"): httpx.Response(202, json=task_run())})
    flavor.run(flavor.client(handler).workflows.run_task("wf/greet:3", input_data))
    body = json.loads(seen[0].content)
    assert body.pop("idempotencyKey")
    assert body == {"task": "wf/greet:3", "input": sent}


def test_any_2xx_is_success(flavor: Flavor) -> None:
    # The official SDK accepted only the documented code and crashed later on anything else.
    _, handler = recorder(
        {
            ("POST", "/v1/task-runs"): httpx.Response(201, json=task_run()),
            ("DELETE", "/v1/task-runs/trn-1"): httpx.Response(200, json={}),
        }
    )
    render = flavor.client(handler)
    assert flavor.run(render.workflows.run_task("wf/t", [1])).id == "trn-1"
    assert flavor.run(render.workflows.cancel_task_run("trn-1")) is None


def test_get_task_run_returns_details(flavor: Flavor) -> None:
    body = details(
        "trn-9",
        "completed",
        parentTaskRunId="trn-root",
        rootTaskRunId="trn-root",
        retries=1,
        startedAt="2026-01-02T03:04:05.123456789Z",
        completedAt="2026-01-02T03:04:06+00:00",
        error="",
        attempts=[
            {"status": "failed", "startedAt": "2026-01-02T03:04:05Z", "error": "boom", "attempt": 0},
            {"status": "completed", "startedAt": "2026-01-02T03:04:05Z", "results": [25], "attempt": 1},
        ],
        unknownField={"ignored": True},
    )
    _, handler = recorder({("GET", "/v1/task-runs/trn-9"): body})
    run = flavor.run(flavor.client(handler).workflows.get_task_run("trn-9"))
    assert isinstance(run, TaskRunDetails)
    assert (run.id, run.task_id, run.status, run.results, run.input_) == (
        "trn-9",
        "tsk-1",
        "completed",
        [25],
        [5],
    )
    assert (run.parent_task_run_id, run.root_task_run_id, run.retries, run.error) == (
        "trn-root",
        "trn-root",
        1,
        None,
    )
    assert run.started_at is not None and run.started_at.tzinfo is not None
    assert run.completed_at == datetime(2026, 1, 2, 3, 4, 6, tzinfo=timezone.utc)
    assert [(a.status, a.error, a.results, a.attempt) for a in run.attempts] == [
        ("failed", "boom", None, 0),
        ("completed", None, [25], 1),
    ]


def test_root_run_has_no_parent(flavor: Flavor) -> None:
    _, handler = recorder({("GET", "/v1/task-runs/trn-1"): details()})
    run = flavor.run(flavor.client(handler).workflows.get_task_run("trn-1"))
    assert run.parent_task_run_id is None


def test_unknown_status_is_kept_as_a_string(flavor: Flavor) -> None:
    _, handler = recorder({("GET", "/v1/task-runs/trn-1"): details(status="hibernating")})
    run = flavor.run(flavor.client(handler).workflows.get_task_run("trn-1"))
    assert run.status == "hibernating" and not isinstance(run.status, TaskRunStatus)


def test_cancel_sends_delete(flavor: Flavor) -> None:
    seen, handler = recorder({("DELETE", "/v1/task-runs/trn-1"): httpx.Response(204)})
    assert flavor.run(flavor.client(handler).workflows.cancel_task_run("trn-1")) is None
    assert seen[0].method == "DELETE"


def test_list_task_runs_sends_every_filter(flavor: Flavor) -> None:
    page_body = [{"taskRun": task_run(f"trn-{i}"), "cursor": f"c{i}"} for i in range(2)]
    seen, handler = recorder({("GET", "/v1/task-runs"): page_body})
    params = ListTaskRunsParams(
        limit=2,
        cursor="cfQ74cE2sDI=",
        owners=["tea-a", "tea-b"],
        task_slugs=["wf/a", "wf/b"],
        root_task_run_ids=["trn-r"],
        workflow_ids=["wfl-1"],
        workflow_version_ids=["wfv-1", "wfv-2"],
    )
    page = flavor.run(flavor.client(handler).workflows.list_task_runs(params))
    query = seen[0].url.params
    assert query["limit"] == "2" and query["cursor"] == "cfQ74cE2sDI="
    assert query.get_list("ownerId") == ["tea-a,tea-b"]
    assert query.get_list("taskSlug") == ["wf/a", "wf/b"]
    assert query.get_list("rootTaskRunId") == ["trn-r"]
    assert query.get_list("workflowId") == ["wfl-1"]
    assert query.get_list("workflowVersionId") == ["wfv-1", "wfv-2"]
    assert [run.id for run in page] == ["trn-0", "trn-1"] and len(page) == 2 and page[1].id == "trn-1"
    assert page.next_cursor == "c1" and page.cursor == "c1"


def test_list_task_runs_seed_example(flavor: Flavor) -> None:
    seen, handler = recorder({("GET", "/v1/task-runs"): [{"taskRun": task_run(), "cursor": "c"}]})
    params = ListTaskRunsParams(limit=10, cursor="cfQ74cE2sDI=", owners=["tea-d3jm7ai4d50c73fale60"])
    task_runs = flavor.run(flavor.client(handler).workflows.list_task_runs(params))
    assert task_runs == [TaskRun(**vars(task_runs[0]))]
    assert task_runs.next_cursor is None  # shorter than the limit: the last page
    assert str(seen[0].url).endswith("limit=10&cursor=cfQ74cE2sDI%3D&ownerId=tea-d3jm7ai4d50c73fale60")


def test_list_task_runs_accepts_bare_task_runs(flavor: Flavor) -> None:
    # v0.3.0-era servers answered TaskRun[] without cursors.
    _, handler = recorder({("GET", "/v1/task-runs"): [task_run("trn-a"), task_run("trn-b", "succeeded")]})
    page = flavor.run(flavor.client(handler).workflows.list_task_runs())
    assert [(run.id, run.status) for run in page] == [("trn-a", "pending"), ("trn-b", "succeeded")]
    assert page.next_cursor is None


def test_iter_task_runs_walks_all_pages(flavor: Flavor) -> None:
    seen: list[httpx.Request] = []
    pages = {None: ["trn-1", "trn-2"], "c2": ["trn-3", "trn-4"], "c4": ["trn-5"]}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        ids = pages[request.url.params.get("cursor")]
        return httpx.Response(200, json=[{"taskRun": task_run(i), "cursor": "c" + i[-1]} for i in ids])

    runs = flavor.collect(flavor.client(handler).workflows.iter_task_runs(ListTaskRunsParams(limit=2)))
    assert [run.id for run in runs] == ["trn-1", "trn-2", "trn-3", "trn-4", "trn-5"]
    assert [request.url.params.get("cursor") for request in seen] == [None, "c2", "c4"]


def test_iter_task_runs_default_page_size(flavor: Flavor) -> None:
    seen, handler = recorder({("GET", "/v1/task-runs"): []})
    assert flavor.collect(flavor.client(handler).workflows.iter_task_runs()) == []
    assert seen[0].url.params["limit"] == "100"


def test_tasks(flavor: Flavor) -> None:
    task = {"id": "tsk-1", "name": "square", "createdAt": "2026-01-01T00:00:00Z", "workflowId": "wfl-1"}
    seen, handler = recorder(
        {("GET", "/v1/tasks"): [{"task": task, "cursor": "c1"}], ("GET", "/v1/tasks/tsk-1"): task}
    )
    render = flavor.client(handler)
    page = flavor.run(render.workflows.list_tasks(ListTasksParams(limit=1, task_slugs=["wf/square"])))
    assert [t.name for t in page] == ["square"] and page.next_cursor == "c1"
    assert seen[0].url.params.get_list("taskSlug") == ["wf/square"]
    got = flavor.run(render.workflows.get_task("tsk-1"))
    assert (got.id, got.name, got.workflow_id, got.workflow_version_id) == ("tsk-1", "square", "wfl-1", None)
    assert [t.id for t in flavor.collect(render.workflows.iter_tasks())] == ["tsk-1"]


def test_generated_client_shares_the_connection(flavor: Flavor) -> None:
    from render_sdk_public_api.api.workflows_beta import get_workflow_version

    seen, handler = recorder(
        {
            ("GET", "/v1/workflowversions/wfv-1"): {
                "id": "wfv-1",
                "workflowId": "wfl-1",
                "name": "v1",
                "createdAt": "2026-01-01T00:00:00Z",
                "status": "ready",
            }
        }
    )
    render = flavor.client(handler)
    if flavor.name == "sync":
        response = get_workflow_version.sync_detailed("wfv-1", client=render.api_client)
    else:

        async def call() -> Any:
            return await get_workflow_version.asyncio_detailed("wfv-1", client=render.api_client)

        response = flavor.run(call())
    assert response.status_code == 200
    assert seen[0].headers["authorization"] == "Bearer rnd_test_secret"


def test_operations_match_the_spec() -> None:
    """Hand-built paths, query names and array encodings are the ones openapi/ documents."""
    spec = yaml.safe_load((ROOT / "openapi" / "render-public-api.yaml").read_text())

    def parameter(entry: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in entry:
            return spec["components"]["parameters"][entry["$ref"].rsplit("/", 1)[1]]
        return entry

    def query_params(path: str, method: str) -> dict[str, dict[str, Any]]:
        entries = spec["paths"][path].get("parameters", []) + spec["paths"][path][method].get(
            "parameters", []
        )
        return {p["name"]: p for p in map(parameter, entries) if p["in"] == "query"}

    runs = ops.list_task_runs(
        ListTaskRunsParams(
            limit=5,
            cursor="c",
            owners=["a", "b"],
            task_slugs=["w/t", "w/u"],
            root_task_run_ids=["r1", "r2"],
            workflow_ids=["w1", "w2"],
            workflow_version_ids=["v1", "v2"],
        )
    )
    tasks = ops.list_tasks(
        ListTasksParams(
            limit=5,
            cursor="c",
            owners=["a", "b"],
            task_slugs=["w/t", "w/u"],
            workflow_ids=["w1", "w2"],
            workflow_version_ids=["v1", "v2"],
        )
    )
    for operation, path in ((runs, "/task-runs"), (tasks, "/tasks")):
        documented = query_params(path, "get")
        sent: dict[str, list[str]] = {}
        for name, value in operation.params:
            sent.setdefault(name, []).append(value)
        assert set(sent) == set(documented), path
        for name, values in sent.items():
            if documented[name]["schema"].get("type") == "array":
                exploded = documented[name].get("explode", True)
                assert len(values) == (2 if exploded else 1), (path, name, values)
    assert "taskRunIds" in query_params(ops.EVENTS_PATH, "get")
    for operation, method, path in (
        (ops.get_task_run("trn-1"), "get", "/task-runs/{taskRunId}"),
        (ops.cancel_task_run("trn-1"), "delete", "/task-runs/{taskRunId}"),
        (ops.create_task_run("w/t", []), "post", "/task-runs"),
        (ops.get_task("tsk-1"), "get", "/tasks/{taskId}"),
    ):
        assert operation.method.lower() == method and method in spec["paths"][path]
