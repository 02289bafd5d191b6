"""A worker that misbehaves on its callback socket, against the real server (``render-workflows dev``).

Bad JSON in a report fails the run with the problem named (not "exited with status 0 before reporting a
result"), a report past the size limit gets 413, a worker cannot read runs that are not its subtasks, one
worker holding hundreds of connections is bounded and reported once, and a 20 MiB output line survives whole.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from render_sdk.local.limits import CALLBACK_BODY_BYTES, CONNECTIONS_PER_ATTEMPT, OUTPUT_LINE_BYTES
from tests.local.processes import wait_until
from tests.local.test_api import start_run, wait_finished

WORKERS = Path(__file__).resolve().parent / "workers"
HOSTILE = [sys.executable, "hostile.py"]

BAD_PAYLOADS = {
    "nan": "NaN is not a JSON value",
    "infinity": "Infinity is not a JSON value",
    "overflow": "number 1e400 is too large for a 64-bit float",
    "bigint": "integer of 5000 digits is longer than the limit",
    "surrogate": "lone surrogate \\ud800 is not Unicode",
    "deep": "nesting is deeper than 256 levels",
}


def logs_of(url: str, run_id: str) -> list[str]:
    body = httpx.get(f"{url}/v1/logs", params={"taskRun": run_id, "limit": 1000}).json()
    return [log["message"] for log in body["logs"]]


def parse_answer(line: str) -> tuple[int, str]:
    """``answer <status> <body>`` as printed by the worker: the status and the body's message."""
    _, status, body = line.split(" ", 2)
    return int(status), json.loads(body)["message"]


def answer_of(url: str, run_id: str) -> tuple[int, str]:
    answers = [line for line in logs_of(url, run_id) if line.startswith("answer ")]
    assert answers, logs_of(url, run_id)
    return parse_answer(answers[0])


def run_to_end(url: str, task: str, input_value: Any) -> dict[str, Any]:
    return wait_finished(url, start_run(url, f"hostile/{task}", input_value)["id"])


def test_bad_json_in_a_report_fails_the_run_naming_the_problem(start_local_runtime: Any) -> None:
    server = start_local_runtime(HOSTILE, cwd=WORKERS)
    for task in ("bad_output", "bad_body"):
        for kind, problem in BAD_PAYLOADS.items():
            run = run_to_end(server.url, task, [kind])
            assert run["status"] == "failed", run
            assert run["error"].startswith("the worker's report was refused by the local runtime: "), run
            assert problem in run["error"], (task, kind, run["error"])
            assert "before reporting a result" not in run["error"]
            status, message = answer_of(server.url, run["id"])
            assert status == 400 and problem in message, (status, message)
    assert not [line for line in server.output if "Traceback" in line]


def test_a_report_past_the_limit_gets_413_while_reading(start_local_runtime: Any) -> None:
    server = start_local_runtime(HOSTILE, cwd=WORKERS)
    megabytes = (CALLBACK_BODY_BYTES >> 20) + 4
    run = run_to_end(server.url, "huge_body", [megabytes])
    assert run["status"] == "failed"
    assert f"larger than the local runtime's limit of {CALLBACK_BODY_BYTES} bytes" in run["error"], run
    assert answer_of(server.url, run["id"])[0] == 413


def test_a_worker_reads_only_its_own_subtasks(start_local_runtime: Any) -> None:
    server = start_local_runtime(HOSTILE, cwd=WORKERS)
    other = run_to_end(server.url, "long_line", [0])
    peek = run_to_end(server.url, "peek", [other["id"]])
    assert peek["status"] == "completed"
    (answer,) = peek["results"]
    assert (
        answer.startswith("answer 404 ") and f"{other['id']} is not a subtask of run {peek['id']}" in answer
    )


def test_held_connections_are_bounded_and_reported_once(start_local_runtime: Any, tmp_path: Path) -> None:
    server = start_local_runtime(HOSTILE, cwd=WORKERS)
    release = tmp_path / "release"
    flood = start_run(server.url, "hostile/flood", [CONNECTIONS_PER_ATTEMPT * 3, str(release)])
    notice = f"{flood['id']}: the worker holds {CONNECTIONS_PER_ATTEMPT} callback connections open"
    wait_until(lambda: any(notice in line for line in server.output), message="the connection-limit notice")
    held = len(os.listdir(f"/proc/{server.process.pid}/fd"))
    assert held < CONNECTIONS_PER_ATTEMPT + 100, held
    # Another run is served meanwhile.
    assert run_to_end(server.url, "long_line", [0])["status"] == "completed"
    release.touch()
    done = wait_finished(server.url, flood["id"])
    assert done["status"] == "completed" and done["results"] == [CONNECTIONS_PER_ATTEMPT * 3], done
    assert sum(notice in line for line in server.output) == 1


def test_a_20_mib_output_line_is_kept_whole_in_1_mib_records(start_local_runtime: Any) -> None:
    server = start_local_runtime(HOSTILE, cwd=WORKERS)
    run = run_to_end(server.url, "long_line", [20])
    assert run["status"] == "completed", run
    records = [line for line in logs_of(server.url, run["id"]) if line.startswith("y")]
    assert len(records) == 20 and all(len(record) == OUTPUT_LINE_BYTES for record in records)
    assert sum(map(len, records)) == 20 << 20
