"""The local runtime's REST API, event stream, callback API and command line, over real HTTP."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from render_sdk.local.attempts.callback_endpoint import RESULT_HOLD_SECONDS
from render_sdk.local.attempts.source_watch import SourceFilter

from .processes import HTTP, wait_until

pytestmark = pytest.mark.slow(seconds=23)

WORKERS = Path(__file__).resolve().parent / "workers"
EXAMPLE_WORKFLOWS = Path(__file__).resolve().parents[2] / "examples" / "workflows"


@pytest.fixture
def raw_runtime(shared_runtime: Any) -> Any:
    """The session's server of ``workers/raw_worker.py``, for tests that look only at their own runs."""
    return shared_runtime([sys.executable, "raw_worker.py"], cwd=WORKERS)


def start_run(url: str, task: str, input_value: Any) -> dict[str, Any]:
    response = HTTP.post(f"{url}/v1/task-runs", json={"task": task, "input": input_value})
    assert response.status_code == 202, response.text
    return response.json()


def wait_finished(url: str, run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = HTTP.get(f"{url}/v1/task-runs/{run_id}").json()
        if body["status"] in ("completed", "failed", "canceled"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"{run_id} did not finish within {timeout} s")


def read_events(
    url: str, params: Any, count: int, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The first ``count`` events of a stream (which stays open after them, as Render's does)."""
    events: list[dict[str, Any]] = []
    with HTTP.stream(
        "GET", f"{url}/v1/task-runs/events", params=params, headers=headers, timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event: dict[str, Any] = {}
        for line in response.iter_lines():
            if not line:
                if "data" in event:
                    events.append(event)
                    if len(events) == count:
                        break
                event = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                event[key] = json.loads(value) if key == "data" else value
    return events


def assert_error(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"id", "message", "code"}
    assert words in body["message"]


def test_error_responses_are_json(local_runtime: Any) -> None:
    url = local_runtime.url
    assert_error(HTTP.get(f"{url}/v1/task-runs/trn-nope"), 404, "trn-nope not found")
    assert_error(HTTP.delete(f"{url}/v1/task-runs/trn-nope"), 404, "not found")
    json_type = {"Content-Type": "application/json"}
    bad_json = HTTP.post(f"{url}/v1/task-runs", content=b"{nope", headers=json_type)
    assert_error(bad_json, 400, "not valid JSON")
    assert_error(HTTP.post(f"{url}/v1/task-runs", json={"task": "wf/square"}), 400, "input is required")
    assert_error(
        HTTP.post(f"{url}/v1/task-runs", json={"task": "wf/square", "input": "3"}), 400, "got a string"
    )
    assert_error(HTTP.post(f"{url}/v1/task-runs", json={"input": [3]}), 400, "task must be")
    assert_error(
        HTTP.post(f"{url}/v1/task-runs", json={"task": "wf/square", "input": [1, 2]}), 400, "square(a)"
    )
    assert_error(
        HTTP.post(f"{url}/v1/task-runs", json={"task": "wf/cube", "input": [1]}), 404, "'wf/cube' not found"
    )
    assert_error(HTTP.get(f"{url}/v1/task-runs", params={"limit": 0}), 400, "limit")
    assert_error(HTTP.get(f"{url}/v1/nothing-here"), 404, "not an endpoint")
    assert_error(HTTP.post(f"{url}/v1/workflows", json={}), 405, "needs Render's cloud")
    assert_error(HTTP.get(f"{url}/v1/task-runs/events"), 400, "taskRunIds is required")
    finished = wait_finished(url, start_run(url, "wf/square", [2])["id"])
    assert_error(HTTP.delete(f"{url}/v1/task-runs/{finished['id']}"), 409, "already completed")
    # Authorization is accepted and ignored.
    response = HTTP.get(f"{url}/v1/task-runs/{finished['id']}", headers={"Authorization": "Bearer rnd_x"})
    assert response.status_code == 200


def test_create_returns_a_pending_run_and_get_returns_details(local_runtime: Any) -> None:
    url = local_runtime.url
    created = start_run(url, "any-slug/square:v7", [6])
    assert created["status"] == "pending"
    assert created["attempts"] == [] and created["retries"] == 0
    assert created["parentTaskRunId"] == "" and created["rootTaskRunId"] == created["id"]
    assert created["id"].startswith("trn-") and len(created["id"]) == 24
    details = wait_finished(url, created["id"])
    assert details["results"] == [36] and details["input"] == [6]
    assert details["attempts"][0]["attempt"] == 0
    assert details["startedAt"] <= details["completedAt"]


def test_list_pages_with_cursor_and_filters(local_runtime: Any) -> None:
    url = local_runtime.url
    ids = [start_run(url, "wf/square", [n])["id"] for n in range(5)]
    greet = start_run(url, "wf/greet", {"name": "x"})["id"]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = HTTP.get(f"{url}/v1/task-runs", params=params).json()
        seen += [item["taskRun"]["id"] for item in page]
        if len(page) < 2:
            break
        cursor = page[-1]["cursor"]
    assert len(seen) == len(set(seen))  # each run once (the server is shared: other tests' runs are older)
    assert [run_id for run_id in seen if run_id in {greet, *ids}] == [greet, *reversed(ids)]  # newest first
    tasks = HTTP.get(f"{url}/v1/tasks").json()
    square = next(item["task"] for item in tasks if item["task"]["name"] == "square")
    squares = HTTP.get(f"{url}/v1/task-runs", params={"taskSlug": "my-wf/square", "limit": 100}).json()
    assert set(ids) <= {item["taskRun"]["id"] for item in squares}
    assert {item["taskRun"]["taskId"] for item in squares} == {square["id"]}
    assert HTTP.get(f"{url}/v1/tasks/{square['id']}").json() == square
    workflows = HTTP.get(f"{url}/v1/workflows").json()
    assert [item["workflow"]["id"] for item in workflows] == [square["workflowId"]]
    versions = HTTP.get(f"{url}/v1/workflowversions").json()
    assert versions[-1]["workflowVersion"]["id"] == square["workflowVersionId"]
    assert versions[-1]["workflowVersion"]["status"] == "ready"


def test_events_replay_finished_runs_once_each(local_runtime: Any, tmp_path: Path) -> None:
    url = local_runtime.url
    done = wait_finished(url, start_run(url, "wf/square", [3])["id"])
    failed = wait_finished(url, start_run(url, "wf/always_fails", ["no"])["id"])
    flaky = wait_finished(url, start_run(url, "wf/flaky", [str(tmp_path / "n"), 1])["id"])
    repeated = read_events(url, [("taskRunIds", done["id"]), ("taskRunIds", failed["id"])], 2)
    joined = read_events(url, {"taskRunIds": f"{done['id']},{failed['id']},{flaky['id']}"}, 3)
    assert [event["data"]["status"] for event in repeated] == ["completed", "failed"]
    assert [event["event"] for event in joined] == ["task.completed"] * 3
    assert [event["data"]["id"] for event in joined] == [done["id"], failed["id"], flaky["id"]]
    assert flaky["status"] == "completed" and len(flaky["attempts"]) == 2  # no event for the failed attempt
    ids = [int(event["id"]) for event in joined]
    assert ids == sorted(ids)
    last_seen = {"Last-Event-ID": str(ids[0])}
    resumed = read_events(url, {"taskRunIds": f"{done['id']},{flaky['id']}"}, 1, last_seen)
    assert [event["data"]["id"] for event in resumed] == [flaky["id"]]


def test_events_for_a_live_and_a_canceled_run(raw_runtime: Any) -> None:
    server = raw_runtime
    parent = start_run(server.url, "wf/wait_for_child", [])
    deadline = time.monotonic() + 30
    children: list[Any] = []
    while not children and time.monotonic() < deadline:
        tree = HTTP.get(f"{server.url}/v1/task-runs", params={"rootTaskRunId": parent["id"]}).json()
        children = [item["taskRun"] for item in tree if item["taskRun"]["parentTaskRunId"] == parent["id"]]
        time.sleep(0.05)
    (child,) = children
    assert child["rootTaskRunId"] == parent["id"] and child["parentTaskAttempt"] == 0
    assert HTTP.delete(f"{server.url}/v1/task-runs/{child['id']}").status_code == 204
    # The parent sees its canceled subtask as an error and finishes with that as its result.
    events = read_events(server.url, {"taskRunIds": f"{parent['id']},{child['id']}"}, 2)
    by_id = {event["data"]["id"]: event["data"] for event in events}
    assert by_id[child["id"]]["status"] == "canceled"
    result = by_id[parent["id"]]["results"][0]
    assert result["still_running"] is False and "was canceled" in result["error"]["details"]


def test_callback_api_subtask_errors_and_idempotency(raw_runtime: Any) -> None:
    server = raw_runtime
    finished = wait_finished(server.url, start_run(server.url, "wf/probe", [])["id"])
    assert finished["status"] == "completed", finished
    seen = finished["results"][0]
    assert seen["unknown_task"][0] == 404 and "'nope' not found" in seen["unknown_task"][1]["message"]
    assert seen["same_run"] is True
    assert seen["unknown_run"][0] == 404
    assert seen["malformed"] == 400
    assert seen["child_result"]["complete"]["output"]
    tree = HTTP.get(f"{server.url}/v1/task-runs", params={"rootTaskRunId": finished["id"]}).json()
    assert len(tree) == 2  # the repeated run-subtask request created one child


def test_subtask_result_is_held_until_the_subtask_is_final(raw_runtime: Any) -> None:
    server = raw_runtime
    quick = wait_finished(server.url, start_run(server.url, "wf/poll_once", [1])["id"])["results"][0]
    # One request sufficed: it waited out the child's second of sleep instead of answering still_running.
    assert quick["status"] == 200 and quick["answer"]["still_running"] is False
    assert json.loads(base64.b64decode(quick["answer"]["complete"]["output"])) == ["child done"]

    slow_run = wait_finished(server.url, start_run(server.url, "wf/poll_once", [60])["id"])
    slow = slow_run["results"][0]
    assert slow["status"] == 200 and slow["answer"] == {"still_running": True}
    assert slow["seconds"] > RESULT_HOLD_SECONDS - 0.5  # a lower bound: the hold ended it, not the child
    tree = HTTP.get(f"{server.url}/v1/task-runs", params={"rootTaskRunId": slow_run["id"]}).json()
    (child,) = [item["taskRun"] for item in tree if item["taskRun"]["id"] != slow_run["id"]]
    assert child["status"] == "running"
    assert HTTP.delete(f"{server.url}/v1/task-runs/{child['id']}").status_code == 204


def test_parent_canceled_while_its_result_poll_is_held(start_local_runtime: Any) -> None:
    server = start_local_runtime([sys.executable, "raw_worker.py"], cwd=WORKERS)
    parent = start_run(server.url, "wf/wait_for_child", [])
    deadline = time.monotonic() + 30
    polling: list[str] = []
    while not polling:
        assert time.monotonic() < deadline, "the parent never started polling"
        logs = HTTP.get(f"{server.url}/v1/logs", params={"taskRun": parent["id"]}).json()["logs"]
        polling = [log["message"] for log in logs if log["message"].startswith("polling child")]
        time.sleep(0.05)
    child_id, pid = polling[0].split()[2], int(polling[0].split()[-1])

    def listed_statuses() -> dict[str, str]:
        tree = HTTP.get(f"{server.url}/v1/task-runs", params={"rootTaskRunId": parent["id"]}).json()
        return {item["taskRun"]["id"]: item["taskRun"]["status"] for item in tree}

    assert listed_statuses()[parent["id"]] == "running"
    assert HTTP.delete(f"{server.url}/v1/task-runs/{parent['id']}").status_code == 204
    events = read_events(server.url, {"taskRunIds": f"{parent['id']},{child_id}"}, 2)
    assert {event["data"]["status"] for event in events} == {"canceled"}
    assert listed_statuses() == {parent["id"]: "canceled", child_id: "canceled"}  # not the page seen before
    while os.path.exists(f"/proc/{pid}"):  # the parent's process is stopped although a request was held
        assert time.monotonic() < deadline + 30, f"worker process {pid} still exists"
        time.sleep(0.05)
    assert wait_finished(server.url, start_run(server.url, "wf/child", [0])["id"])["results"] == [
        "child done"
    ]
    assert server.stop() == 0
    assert not [line for line in server.output if "Traceback" in line or "never retrieved" in line]


def test_logs_endpoint_and_command(
    start_local_runtime: Any, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    db_path = tmp_path / "store.sqlite3"
    server = start_local_runtime(db_path=db_path)
    run = wait_finished(server.url, start_run(server.url, "wf/always_fails", ["to the logs"])["id"])
    logs = HTTP.get(f"{server.url}/v1/logs", params={"taskRun": run["id"]}).json()
    assert any("to the logs" in log["message"] for log in logs["logs"])
    assert {label["name"] for label in logs["logs"][0]["labels"]} == {"taskRun", "attempt", "type"}
    command = [sys.executable, "-m", "render_sdk", "logs", run["id"]]
    over_http = subprocess.run(
        [*command, "--url", server.url], env=subprocess_env, capture_output=True, text=True
    )
    assert over_http.returncode == 0, over_http.stderr
    assert "to the logs" in over_http.stdout
    assert server.stop() == 0
    from_db = subprocess.run(
        [*command, "--db", str(db_path)], env=subprocess_env, capture_output=True, text=True
    )
    assert from_db.stdout == over_http.stdout


def test_busy_port_gives_a_clear_message(local_runtime: Any, subprocess_env: dict[str, str]) -> None:
    port = local_runtime.url.rsplit(":", 1)[1]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "render_sdk",
            "dev",
            "--port",
            port,
            "--in-memory",
            "--",
            sys.executable,
            "main.py",
        ],
        cwd=EXAMPLE_WORKFLOWS,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr


def test_source_change_registers_again_and_failure_keeps_tasks(
    start_local_runtime: Any, tmp_path: Path
) -> None:
    workdir = tmp_path / "wf"
    shutil.copytree(EXAMPLE_WORKFLOWS, workdir, ignore=shutil.ignore_patterns("__pycache__"))
    server = start_local_runtime([sys.executable, "main.py"], cwd=workdir)
    math_tasks = workdir / "math_tasks.py"
    math_tasks.write_text(
        math_tasks.read_text() + "\n\n@app.task\ndef cube(a: int) -> int:\n    return a**3\n"
    )
    server.wait_for_output("Registered tasks:")
    assert "cube" in server.wait_for_output("Registered tasks:")
    cube = start_run(server.url, "wf/cube", [2])
    assert wait_finished(server.url, cube["id"])["results"] == [8]
    # Any source counts, whatever the worker is written in.
    (workdir / "helper.js").write_text("export const x = 1;\n")
    wait_until(
        lambda: sum(line.startswith("Registered tasks:") for line in server.output) == 2,
        message="registered again after a .js change",
    )
    math_tasks.write_text("def broken(:\n")
    server.wait_for_output("Registration failed: the task list stays as registered before, but new attempts")
    server.wait_for_output("SyntaxError")
    names = {item["task"]["name"] for item in HTTP.get(f"{server.url}/v1/tasks").json()}
    assert "cube" in names
    # As the message says: the kept task starts the current, broken source.
    broken = wait_finished(server.url, start_run(server.url, "wf/cube", [2])["id"])
    assert broken["status"] == "failed" and "SyntaxError" in broken["error"], broken
    statuses = [
        item["workflowVersion"]["status"] for item in HTTP.get(f"{server.url}/v1/workflowversions").json()
    ]
    assert statuses == ["ready", "ready", "ready", "registration_failed"]


def test_registration_takes_what_the_callback_spec_allows(raw_runtime: Any) -> None:
    server = raw_runtime
    names = {item["task"]["name"] for item in HTTP.get(f"{server.url}/v1/tasks").json()}
    assert {"bare_fails", "retries_twice", "waits_only"} <= names
    runs = {
        name: start_run(server.url, f"wf/{name}", [])
        for name in ("bare_fails", "retries_twice", "waits_only")
    }
    finished = {name: wait_finished(server.url, run["id"]) for name, run in runs.items()}
    assert {run["status"] for run in finished.values()} == {"failed"}
    # No options, or a retry without max_retries: no retries. max_retries alone: a first wait of 0 ms.
    assert [len(run["attempts"]) for run in finished.values()] == [1, 3, 1]
    assert "retries_twice fails on purpose" in finished["retries_twice"]["attempts"][2]["error"]


def test_input_carries_the_runs_identity(raw_runtime: Any) -> None:
    server = raw_runtime
    root = wait_finished(server.url, start_run(server.url, "wf/identity", [])["id"])
    assert root["results"] == [
        {"task_name": "identity", "task_run_id": root["id"], "root_task_run_id": root["id"], "attempt": 0}
    ]
    parent = wait_finished(server.url, start_run(server.url, "wf/parent_of_identity", [])["id"])
    seen = parent["results"][0]
    tree = HTTP.get(f"{server.url}/v1/task-runs", params={"rootTaskRunId": parent["id"]}).json()
    (child,) = [item["taskRun"] for item in tree if item["taskRun"]["id"] != parent["id"]]
    assert seen == {
        "task_name": "identity",
        "task_run_id": child["id"],
        "root_task_run_id": parent["id"],
        "parent_task_run_id": parent["id"],
        "attempt": 0,
    }


def test_an_idempotency_key_starts_one_run(local_runtime: Any) -> None:
    url = local_runtime.url
    key = f"key-{time.monotonic_ns()}"  # the server is shared: a key no other test uses
    body = {"task": "wf/square", "input": [4], "idempotencyKey": key}
    first = HTTP.post(f"{url}/v1/task-runs", json=body)
    again = HTTP.post(f"{url}/v1/task-runs", json={**body, "input": [5]})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert wait_finished(url, first.json()["id"])["results"] == [16]
    other = start_run(url, "wf/square", [4])
    assert other["id"] != first.json()["id"]
    for bad, got in (
        ("", "a string of 0 characters"),
        ("k" * 256, "a string of 256 characters"),
        (7, "a number"),
    ):
        response = HTTP.post(f"{url}/v1/task-runs", json={**body, "idempotencyKey": bad})
        assert_error(response, 400, f"idempotencyKey must be a string of 1 to 255 characters, got {got}")


def test_the_source_filter_skips_what_holds_no_sources(tmp_path: Path) -> None:
    from watchfiles import Change

    keep = SourceFilter()
    for path in ("main.py", "src/index.ts", "lib/tasks.js", "render.yaml"):
        assert keep(Change.modified, str(tmp_path / path)), path
    for path in (
        ".render/local-runtime.sqlite3-wal",
        ".git/index",
        "node_modules/x/index.js",
        ".venv/lib/site.py",
        "__pycache__/main.cpython-311.pyc",
    ):
        assert not keep(Change.modified, str(tmp_path / path)), path
