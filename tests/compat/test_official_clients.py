"""The official PyPI clients, in their own virtual environments, against the local runtime.

Each client runs a script (``clients/``) with that release's Python: start ``square`` and wait for it, get it,
list runs, wait for a failing run, start a long run and cancel it, get an unknown run. The script prints what
every call returned (as wire JSON) or raised, and the test checks that report.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from benchmarks._venvs import INSTALL_TIMEOUT

from .official_sdks import COMPAT, OfficialSdk

# The first test also waits for the official SDKs to install (about 30 s from PyPI, more on a slow mirror).
pytestmark = [pytest.mark.timeout(INSTALL_TIMEOUT), pytest.mark.slow(seconds=14)]

CLIENTS = COMPAT / "clients"
WORKER = COMPAT / "workers" / "ours"
SLUG = "compat"


def run_client(
    sdk: OfficialSdk, script: str, url: str, env: dict[str, str], sections: tuple[str, ...] = ()
) -> dict[str, Any]:
    report = sdk.run([str(CLIENTS / script), SLUG, *sections], env={**env, "RENDER_LOCAL_DEV_URL": url})
    result: dict[str, Any] = json.loads(report)
    return result


def start_runtime(start_local_runtime: Any) -> Any:
    return start_local_runtime([sys.executable, "main.py"], cwd=WORKER, args=("--workflow-slug", SLUG))


def assert_square_finished(details: dict[str, Any], run_id: str, argument: Any, square: int) -> None:
    assert details["id"] == run_id
    assert details["status"] == "completed"
    assert details["results"] == [square]
    assert details["input"] == argument
    assert [attempt["status"] for attempt in details["attempts"]] == ["completed"]


def assert_canceled(details: dict[str, Any], run_id: str) -> None:
    assert details["id"] == run_id
    assert details["status"] == "canceled"
    assert details["results"] == []


def test_render_sdk_0_3_0_client(
    official_sdks: dict[str, OfficialSdk], official_env: dict[str, str], start_local_runtime: Any
) -> None:
    runtime = start_runtime(start_local_runtime)
    # 0.3.0 demands a token even for local development; the runtime accepts any.
    env = {**official_env, "RENDER_API_KEY": "rnd_compat_dummy"}
    report = run_client(official_sdks["render_sdk"], "render_sdk_0_3_0.py", runtime.url, env)

    run_id = report["started"]["id"]
    assert report["started"]["status"] == "pending"
    assert_square_finished(report["awaited"], run_id, [5], 25)
    assert report["got"] == report["awaited"]
    # 0.3.0 parses `GET /task-runs` as TaskRun[]; the API (and this runtime) return TaskRunWithCursor[]
    # since, so listing fails in that release exactly as it does against Render (render-protocol §1.8).
    assert report["listed"] == {
        "raised": "RenderError",
        "message": "list task runs failed with unexpected error: 'id'",
    }
    assert report["awaited_failure"]["raised"] == "TaskRunError"
    assert "ValueError: on purpose" in report["awaited_failure"]["message"]

    long_id = report["long_started"]["id"]
    assert report["canceled"] is None
    assert_canceled(report["got_canceled"], long_id)
    # The runtime replays the canceled run's terminal event, so 0.3.0's SSE wait returns instead of hanging.
    assert_canceled(report["awaited_canceled"], long_id)

    assert report["got_unknown"]["raised"] == "ClientError"
    assert "trn-doesnotexist not found" in report["got_unknown"]["message"]


def test_render_1_5_0_clients(
    official_sdks: dict[str, OfficialSdk], official_env: dict[str, str], start_local_runtime: Any
) -> None:
    runtime = start_runtime(start_local_runtime)
    report = run_client(official_sdks["render"], "render_1_5_0.py", runtime.url, official_env)

    sync = report["sync"]
    ran_id = sync["ran"]["id"]
    assert_square_finished(sync["ran"], ran_id, [5], 25)
    assert sync["got"] == sync["ran"]
    assert ran_id in [item["taskRun"]["id"] for item in sync["listed"]]
    assert all(item["cursor"] for item in sync["listed"])
    assert sync["ran_failure"]["raised"] == "TaskRunError"
    assert "ValueError: on purpose" in sync["ran_failure"]["message"]
    long_id = sync["long_started"]["id"]
    assert sync["long_started"]["status"] == "pending"
    assert sync["canceled"] is None
    assert_canceled(sync["got_canceled"], long_id)
    assert sync["got_unknown"]["raised"] == "ClientError"

    asynchronous = report["async"]
    started_id = asynchronous["started"]["id"]
    assert asynchronous["started"]["status"] == "pending"
    assert_square_finished(asynchronous["awaited"], started_id, {"a": 7}, 49)
    assert asynchronous["got"] == asynchronous["awaited"]
    assert started_id in [item["taskRun"]["id"] for item in asynchronous["listed"]]
    assert asynchronous["canceled"] is None
    assert asynchronous["awaited_canceled"]["status"] == "canceled"


def test_render_1_5_0_idempotency_key_starts_one_run(
    official_sdks: dict[str, OfficialSdk], official_env: dict[str, str], start_local_runtime: Any
) -> None:
    runtime = start_runtime(start_local_runtime)
    report = run_client(
        official_sdks["render"], "render_1_5_0.py", runtime.url, official_env, ("idempotency",)
    )["idempotency"]

    first, again, other = report["first"], report["again"], report["other_key"]
    assert "raised" not in first, first
    assert again["id"] == first["id"], "the same key within 24 h must return the first run"
    assert other["id"] != first["id"]
    # run_task with the key waits on the first run: its input ([3]) wins over the repeated one ([6]).
    assert report["ran_again"]["id"] == first["id"]
    assert_square_finished(report["ran_again"], first["id"], [3], 9)
    runs = [item["taskRun"]["id"] for item in report["listed"]]
    assert sorted(runs) == sorted([first["id"], other["id"]])


def test_render_1_5_0_client_errors_carry_the_runtime_code(
    official_sdks: dict[str, OfficialSdk], official_env: dict[str, str], start_local_runtime: Any
) -> None:
    runtime = start_runtime(start_local_runtime)
    report = run_client(official_sdks["render"], "render_1_5_0.py", runtime.url, official_env, ("errors",))[
        "errors"
    ]

    for name in ("unknown_run", "unknown_task", "bad_input"):
        refused = report[name]
        assert refused["raised"] == "ClientError", (name, refused)
        assert isinstance(refused["code"], str) and refused["code"], (name, refused)


def test_render_1_5_0_event_iterators_yield_one_event_and_stay_open(
    official_sdks: dict[str, OfficialSdk], official_env: dict[str, str], start_local_runtime: Any
) -> None:
    """1.5.0's README reads ``task_run_events`` until the caller breaks: the stream stays open, no replays."""
    runtime = start_runtime(start_local_runtime)
    report = run_client(official_sdks["render"], "render_1_5_0.py", runtime.url, official_env, ("events",))[
        "events"
    ]

    for client in ("sync", "async"):
        seen = report[client]
        assert "raised" not in seen, (client, seen)
        assert seen["events"] == [{"id": report["run"], "status": "completed"}], (client, seen)
        assert seen["ended"] is False, f"{client} iterator ended: the server closed the stream"
