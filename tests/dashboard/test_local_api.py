"""The local API's own extensions the dashboard reads (openapi/local-runtime.yaml), and the pages' routes.

The app (behind the runtime's request guard) is served by uvicorn on an ephemeral port from a thread of the
test, on a real SQLite store and state machine but without worker processes, so each run is moved exactly
to the state a test needs.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import uvicorn
import yaml
from local.processes import wait_until

from render_sdk.local.api.app import build_app
from render_sdk.local.api.guard import GuardPolicy, RequestGuard
from render_sdk.local.engine.records import (
    RetryPolicy,
    TaskParameter,
    TaskRecord,
    TaskSpec,
    VersionRecord,
    WorkflowRecord,
)
from render_sdk.local.engine.states import RunStates
from render_sdk.local.engine.store import Store
from render_sdk.local.limits import REST_BODY_BYTES

GREET = TaskSpec(
    name="greet",
    parameters=(
        TaskParameter("name", has_default=False, type="str"),
        TaskParameter("punctuation", has_default=True, type="str", default_value='"!"'),
    ),
    retry=RetryPolicy(max_retries=2, wait_duration_ms=60_000, factor=2.0),
    timeout_seconds=120,
    plan="starter",
)
FAN_OUT = TaskSpec(name="fan_out")


SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi" / "local-runtime.yaml").read_text())


def conforms(body: Any, schema_name: str) -> None:
    """Fail unless ``body`` fits ``components.schemas[schema_name]`` of openapi/local-runtime.yaml."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": SPEC["components"]}
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(body)


@dataclass
class Local:
    client: httpx.Client
    store: Store
    states: RunStates
    tasks: dict[str, TaskRecord]


@pytest.fixture
def local() -> Iterator[Local]:
    store = Store(None)
    moment = datetime.now(timezone.utc)
    store.put_workflow(WorkflowRecord("wfl-1", "wf", "python main.py", moment, moment))
    store.add_version(VersionRecord("wfv-1", "wfl-1", "local-1", "ready", moment))
    for seq, spec in enumerate((GREET, FAN_OUT), start=1):
        store.upsert_task(
            TaskRecord(seq, f"tsk-{spec.name}", spec.name, "wfl-1", "wfv-1", spec, True, moment)
        )
    tasks = {task.name: task for task in store.list_tasks(active_only=True)}
    states = RunStates(store)
    guard = GuardPolicy.for_address("127.0.0.1", (), REST_BODY_BYTES)
    listener = socket.create_server(("127.0.0.1", 0))
    app = RequestGuard(build_app(store, states), guard)
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 10, "uvicorn started")
        port = listener.getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            yield Local(client, store, states, tasks)
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()
        store.close()


def runs(local: Local, **params: Any) -> list[dict[str, Any]]:
    response = local.client.get("/v1/task-runs", params=params)
    assert response.status_code == 200, response.text
    return [item["taskRun"] for item in response.json()]


def test_runs_name_their_task_and_say_when_they_were_created(local: Local) -> None:
    run = local.states.create_run(local.tasks["greet"], ["Ada"])
    (listed,) = runs(local)
    details = local.client.get(f"/v1/task-runs/{run.id}").json()
    for body in (listed, details):
        assert body["taskName"] == "greet"
        assert body["taskId"] == "tsk-greet"
        assert datetime.fromisoformat(body["createdAt"]) == run.created_at
        assert "nextAttemptAt" not in body
    started = local.client.post("/v1/task-runs", json={"task": "wf/greet", "input": ["Bo"]}).json()
    assert started["taskName"] == "greet"


def test_a_run_waiting_for_its_retry_says_when_it_is_due(local: Local) -> None:
    run = local.states.create_run(local.tasks["greet"], ["Ada"])
    _, attempt = local.states.start_attempt(run.id) or (None, -1)
    retry = local.states.fail_attempt(run.id, attempt, "ValueError: nope")
    assert retry is not None
    details = local.client.get(f"/v1/task-runs/{run.id}").json()
    assert details["status"] == "pending"
    assert datetime.fromisoformat(details["nextAttemptAt"]) == retry.due
    assert details["attempts"][0]["error"] == "ValueError: nope"


def test_tasks_carry_their_definition(local: Local) -> None:
    listed = {item["task"]["name"]: item["task"] for item in local.client.get("/v1/tasks").json()}
    one = local.client.get("/v1/tasks/tsk-greet").json()
    for greet in (listed["greet"], one):
        assert greet["parameters"] == [
            {"name": "name", "hasDefault": False, "type": "str"},
            {"name": "punctuation", "hasDefault": True, "type": "str", "default": '"!"'},
        ]
        assert greet["retry"] == {"maxRetries": 2, "waitDurationMs": 60_000, "factor": 2.0}
        assert greet["timeoutSeconds"] == 120
        assert greet["plan"] == "starter"
    fan_out = listed["fan_out"]
    assert fan_out["parameters"] == []
    # Registered with no options: the runtime applies its default timeout (300 s) and no plan.
    assert fan_out["timeoutSeconds"] == 300 and "plan" not in fan_out


def test_runs_filter_by_status_and_to_top_level_runs(local: Local) -> None:
    states = local.states
    parent = states.create_run(local.tasks["fan_out"], [])
    states.start_attempt(parent.id)
    child, _ = states.create_subtask(parent.id, 0, "greet", ["Ada"])
    done = states.create_run(local.tasks["greet"], ["Bo"])
    states.start_attempt(done.id)
    states.complete_attempt(done.id, 0, ["Hello, Bo!"])

    assert [run["id"] for run in runs(local)] == [done.id, child.id, parent.id]
    assert [run["id"] for run in runs(local, status="running")] == [parent.id]
    assert [run["id"] for run in runs(local, status="pending,completed")] == [done.id, child.id]
    assert [run["id"] for run in runs(local, status="succeeded")] == [done.id]
    assert [run["id"] for run in runs(local, topLevel="true")] == [done.id, parent.id]
    assert [run["id"] for run in runs(local, topLevel="true", status="pending")] == []
    assert [run["id"] for run in runs(local, topLevel="false")] == [done.id, child.id, parent.id]
    # The filters page like the rest of the list.
    (first,) = local.client.get("/v1/task-runs", params={"topLevel": "true", "limit": 1}).json()
    second = runs(local, topLevel="true", limit=1, cursor=first["cursor"])
    assert [run["id"] for run in second] == [parent.id]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"status": "done"}, "status must be one of canceled, completed, failed"),
        ({"topLevel": "yes"}, "topLevel must be true or false, got 'yes'"),
    ],
)
def test_bad_filters_are_named(local: Local, params: dict[str, str], words: str) -> None:
    response = local.client.get("/v1/task-runs", params=params)
    assert response.status_code == 400
    assert words in response.json()["message"]


def test_the_dashboard_is_served_at_the_root_and_allowed_nothing_else(local: Local) -> None:
    page = local.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/assets/app.js">' in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    script = local.client.get("/assets/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["content-security-policy"] == policy
    missing = local.client.get("/assets/nothing.js")
    assert missing.status_code == 404
    assert set(missing.json()) == {"id", "message", "code"}


def test_responses_fit_the_documented_extensions(local: Local) -> None:
    states = local.states
    parent = states.create_run(local.tasks["fan_out"], [])
    _, attempt = states.start_attempt(parent.id) or (None, -1)
    child, _ = states.create_subtask(parent.id, attempt, "greet", {"name": "Ada"})
    local.store.add_log(parent.id, attempt, "stdout", datetime.now(timezone.utc), "starting greet")
    local.store.add_log(parent.id, attempt, "stderr", datetime.now(timezone.utc), "a warning")

    for item in local.client.get("/v1/task-runs").json():
        conforms(item, "TaskRunItem")
    details = local.client.get(f"/v1/task-runs/{child.id}").json()
    conforms(details, "TaskRunDetailsExtended")
    assert details["parentTaskAttempt"] == attempt
    for item in local.client.get("/v1/tasks").json():
        conforms(item["task"], "TaskExtended")
    page = local.client.get("/v1/logs", params={"taskRun": parent.id}).json()
    conforms(page, "LogsPage")
    assert [(line["message"], line["labels"][2]["value"]) for line in page["logs"]] == [
        ("starting greet", "stdout"),
        ("a warning", "stderr"),
    ]
    with pytest.raises(jsonschema.ValidationError):  # the check can fail: a run without its task name
        conforms(
            {key: value for key, value in details.items() if key != "taskName"}, "TaskRunDetailsExtended"
        )
