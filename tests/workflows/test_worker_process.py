"""Real worker processes against a real callback-protocol server on Unix sockets."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .callback_runtime import EXAMPLES, REPO_ROOT, WORKERS, Attempt, CallbackRuntime

T = TypeVar("T")

SEED_DEFAULTS = {
    "retry": {"max_retries": 3, "wait_duration_ms": 1000, "factor": 2.0},
    "timeout_seconds": 300,
    "plan": "standard",
}
WORKER_DEFAULTS = {
    "retry": {"max_retries": 0, "wait_duration_ms": 0, "factor": 1.5},
    "timeout_seconds": 60,
    "plan": "starter",
}


def scenario(
    socket_dir: Path,
    command: list[str],
    cwd: Path,
    body: Callable[[CallbackRuntime], Awaitable[T]],
    **options: Any,
) -> T:
    async def main() -> T:
        async with CallbackRuntime(socket_dir, command, cwd, **options) as runtime:
            return await body(runtime)

    return asyncio.run(main())


def worker(socket_dir: Path, body: Callable[[CallbackRuntime], Awaitable[T]], **options: Any) -> T:
    return scenario(socket_dir, [sys.executable, "worker_app.py"], WORKERS, body, **options)


def run_one(socket_dir: Path, task_name: str, input_value: Any = None, **options: Any) -> Attempt:
    async def body(runtime: CallbackRuntime) -> Attempt:
        return await runtime.run(task_name, input_value)

    return worker(socket_dir, body, **options)


def decode(text: str) -> Any:
    return json.loads(base64.b64decode(text))


# The seed's multi-file layout

EXAMPLE_STARTS = [
    pytest.param([sys.executable, "examples/workflows/main.py"], REPO_ROOT, id="from-project-root"),
    pytest.param([sys.executable, "main.py"], EXAMPLES, id="from-workflows-dir"),
]


@pytest.mark.parametrize(("command", "cwd"), EXAMPLE_STARTS)
def test_example_registers_every_task_once_with_exact_payload(
    socket_dir: Path, command: list[str], cwd: Path
) -> None:
    async def body(runtime: CallbackRuntime) -> Attempt:
        return await runtime.register()

    attempt = scenario(socket_dir, command, cwd, body)
    assert attempt.returncode == 0, attempt.stderr
    assert attempt.paths() == ["/register-tasks"]
    request = attempt.requests[0]
    assert request.method == "POST"
    assert request.headers["host"] == "localhost"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["connection"] == "close"
    assert request.headers["user-agent"].startswith("render-sdk-python/")
    fast_retry = {"max_retries": 3, "wait_duration_ms": 100, "factor": 2.0}
    assert request.body == {
        "tasks": [
            {
                "name": "greet",
                "options": SEED_DEFAULTS,
                "parameters": [
                    {"name": "name", "has_default": False, "type": "str"},
                    {"name": "punctuation", "has_default": True, "type": "str", "default_value": '"!"'},
                ],
            },
            {
                "name": "flaky",
                "options": {**SEED_DEFAULTS, "retry": fast_retry},
                "parameters": [
                    {"name": "counter_path", "has_default": False, "type": "str"},
                    {"name": "failures", "has_default": True, "type": "int", "default_value": "2"},
                ],
            },
            {
                "name": "always_fails",
                "options": {
                    **SEED_DEFAULTS,
                    "retry": {"max_retries": 1, "wait_duration_ms": 100, "factor": 1.5},
                },
                "parameters": [
                    {
                        "name": "reason",
                        "has_default": True,
                        "type": "str",
                        "default_value": '"this task always fails"',
                    }
                ],
            },
            {
                "name": "square",
                "options": SEED_DEFAULTS,
                "parameters": [{"name": "a", "has_default": False, "type": "int"}],
            },
            {
                "name": "add_squares",
                "options": SEED_DEFAULTS,
                "parameters": [
                    {"name": "a", "has_default": False, "type": "int"},
                    {"name": "b", "has_default": False, "type": "int"},
                ],
            },
            {
                "name": "fan_out",
                "options": SEED_DEFAULTS,
                "parameters": [{"name": "n", "has_default": False, "type": "int"}],
            },
        ]
    }


@pytest.mark.parametrize(("command", "cwd"), EXAMPLE_STARTS)
def test_example_runs_the_task_once_with_its_subtasks(
    socket_dir: Path, command: list[str], cwd: Path
) -> None:
    async def body(runtime: CallbackRuntime) -> tuple[Attempt, list[Attempt]]:
        attempt = await runtime.run("add_squares", [3, 4])
        children = runtime.children(attempt)
        for child in children:
            await runtime.wait(child)
        return attempt, children

    attempt, children = scenario(socket_dir, command, cwd, body)
    assert attempt.returncode == 0, attempt.stderr
    assert attempt.callbacks == [{"complete": {"output": base64.b64encode(b"[25]").decode()}}]
    assert attempt.paths().count("/input") == 1
    assert attempt.paths().count("/run-subtask") == 2
    assert [(child.task_name, decode(child.input_payload or "")) for child in children] == [
        ("square", [3]),
        ("square", [4]),
    ]
    assert all(child.returncode == 0 and child.paths() == ["/input", "/callback"] for child in children)
    assert [child.result for child in children] == [[9], [16]]


def test_example_fan_out_runs_subtasks_in_parallel(socket_dir: Path) -> None:
    async def body(runtime: CallbackRuntime) -> tuple[Attempt, list[Attempt]]:
        attempt = await runtime.run("fan_out", [6])
        return attempt, runtime.children(attempt)

    attempt, children = scenario(socket_dir, [sys.executable, "main.py"], EXAMPLES, body)
    assert attempt.result == [[0, 1, 4, 9, 16, 25]]
    assert len(children) == 6
    # All six were submitted before the first result was asked for: the calls are eager.
    paths = attempt.paths()
    assert paths[1:7] == ["/run-subtask"] * 6


def test_example_keyword_input_and_default(socket_dir: Path) -> None:
    async def body(runtime: CallbackRuntime) -> tuple[Attempt, Attempt]:
        return await runtime.run("greet", {"name": "Ada"}), await runtime.run("greet", ["Ada", "?"])

    by_keyword, by_position = scenario(socket_dir, [sys.executable, "main.py"], EXAMPLES, body)
    assert by_keyword.result == ["Hello, Ada!"]
    assert by_position.result == ["Hello, Ada?"]


def test_example_failure_reports_type_message_and_trace_and_exits_non_zero(socket_dir: Path) -> None:
    async def body(runtime: CallbackRuntime) -> Attempt:
        return await runtime.run("always_fails", ["no luck"])

    attempt = scenario(socket_dir, [sys.executable, "main.py"], EXAMPLES, body)
    assert attempt.returncode == 1
    error = attempt.callback["error"]
    assert error["details"] == "ValueError: no luck"
    assert error["stack_trace"].startswith("Traceback (most recent call last):\n")
    assert "data_tasks.py" in error["stack_trace"] and "raise ValueError(reason)" in error["stack_trace"]
    assert error["stack_trace"].endswith("ValueError: no luck\n")
    assert "render_sdk/workflows" not in error["stack_trace"]
    assert "raise ValueError(reason)" in attempt.stderr


def test_example_flaky_fails_then_succeeds_across_processes(socket_dir: Path) -> None:
    counter = socket_dir / "flaky-counter"

    async def body(runtime: CallbackRuntime) -> list[Attempt]:
        return [await runtime.run("flaky", [str(counter), 2]) for _ in range(3)]

    attempts = scenario(socket_dir, [sys.executable, "main.py"], EXAMPLES, body)
    assert [attempt.returncode for attempt in attempts] == [1, 1, 0]
    assert attempts[0].callback["error"]["details"] == "RuntimeError: attempt 1 failed on purpose"
    assert attempts[2].result == ["succeeded on attempt 3"]


def test_multi_file_task_defined_in_entry_point_is_registered_once(socket_dir: Path) -> None:
    async def body(runtime: CallbackRuntime) -> tuple[Attempt, Attempt]:
        return await runtime.register(), await runtime.run("double_hello", ["ada"])

    registration, run = scenario(socket_dir, [sys.executable, "main.py"], WORKERS / "multi", body)
    assert registration.returncode == 0, registration.stderr
    assert [task["name"] for task in registration.requests[0].body["tasks"]] == ["hello", "double_hello"]
    assert run.result == [["hello ada", "hello ADA"]]
    assert run.paths().count("/run-subtask") == 2


def test_explicit_start_serves_the_tasks_registered_on_the_imported_twin(socket_dir: Path) -> None:
    async def body(runtime: CallbackRuntime) -> tuple[Attempt, Attempt]:
        return await runtime.register(), await runtime.run("triple", [5])

    registration, run = scenario(socket_dir, [sys.executable, "main.py"], WORKERS / "explicit", body)
    assert [task["name"] for task in registration.requests[0].body["tasks"]] == ["triple"]
    assert run.result == [15]
    assert run.stdout == "start returned\n"


# Results, arguments and errors


def test_results_are_wrapped_in_a_one_element_array(socket_dir: Path) -> None:
    async def body(runtime: CallbackRuntime) -> list[Attempt]:
        return [
            await runtime.run("echo", [[1, 2]]),
            await runtime.run("echo", [[5]]),
            await runtime.run("echo", [None]),
            await runtime.run("pair", [7]),
        ]

    attempts = worker(socket_dir, body)
    assert [attempt.result for attempt in attempts] == [[[1, 2]], [[5]], [None], [[7, 2]]]


def test_subtask_results_are_read_back_losslessly(socket_dir: Path) -> None:
    attempt = run_one(socket_dir, "list_results")
    assert attempt.result == [[[5], [[1]], [], None, [3, 2]]]


def test_keyword_subtask_and_non_task_helper(socket_dir: Path) -> None:
    async def body(runtime: CallbackRuntime) -> list[Attempt]:
        return [await runtime.run("keyword_subtask"), await runtime.run("uses_helper", {"x": 41})]

    keyword, helper = worker(socket_dir, body)
    assert keyword.result == [[1, 2]]
    assert keyword.requests[1].body["input"] == base64.b64encode(b'{"a":1}').decode()
    assert helper.result == [42]
    assert helper.paths() == ["/input", "/callback"]


def test_nested_subtasks(socket_dir: Path) -> None:
    async def body(runtime: CallbackRuntime) -> tuple[Attempt, int]:
        attempt = await runtime.run("nested", [2])
        return attempt, len(runtime.attempts)

    attempt, processes = worker(socket_dir, body)
    assert attempt.result == [100]
    assert processes == 4  # nested(2) -> nested(1) -> nested(0) -> uses_helper(0)


def test_parallel_subtasks_overlap(socket_dir: Path, tmp_path: Path) -> None:
    # Each subtask waits at a barrier until all four have reached it: they finish only if they overlap.
    attempt = run_one(socket_dir, "parallel", [4, str(tmp_path)])
    assert attempt.result == [[0, 1, 2, 3]], attempt.callback


def test_failed_subtask_raises_task_run_error_in_parent(socket_dir: Path) -> None:
    attempt = run_one(socket_dir, "parent_catches", ["inner trouble"])
    (outcome,) = attempt.result
    assert outcome["error"] == "ValueError: inner trouble"
    assert outcome["message"].startswith("subtask 'fails' (trn-")
    assert outcome["message"].endswith("failed: ValueError: inner trouble")


def test_uncaught_subtask_failure_fails_the_parent(socket_dir: Path) -> None:
    attempt = run_one(socket_dir, "parent_fails", ["deep"])
    assert attempt.returncode == 1
    assert attempt.callback["error"]["details"].startswith("TaskRunError: subtask 'fails'")
    assert attempt.callback["error"]["details"].endswith("ValueError: deep")


def test_chained_exception_keeps_both_traces(socket_dir: Path) -> None:
    error = run_one(socket_dir, "chained").callback["error"]
    assert error["details"] == "RuntimeError: outer failure"
    assert "KeyError: 'missing'" in error["stack_trace"]
    assert "direct cause" in error["stack_trace"]


@pytest.mark.parametrize(
    ("task_name", "details"),
    [
        (
            "returns_datetime",
            "TypeError: task 'returns_datetime' returned a value that is not JSON: result is of type "
            "datetime, which is not JSON-serializable",
        ),
        (
            "returns_nan",
            "TypeError: task 'returns_nan' returned a value that is not JSON: result[1] is nan, which JSON "
            "cannot represent",
        ),
        (
            "bad_subtask_argument",
            "TypeError: task 'echo' was called with an argument that is not JSON: "
            'args[0]["when"] is of type date, which is not JSON-serializable',
        ),
        ("mixed_arguments", "ValueError: task 'pair' was called with both positional and keyword arguments"),
        ("sync_calls_subtask", "RuntimeError: task 'echo' was called from the synchronous task"),
        (
            "no_such_task",
            "LookupError: task 'no_such_task' is not defined by this worker; it defines: echo, ",
        ),
    ],
)
def test_errors_become_error_callbacks(socket_dir: Path, task_name: str, details: str) -> None:
    attempt = run_one(socket_dir, task_name)
    assert attempt.returncode == 1
    assert attempt.callback["error"]["details"].startswith(details)
    assert "/run-subtask" not in attempt.paths()


def test_input_that_is_neither_array_nor_object(socket_dir: Path) -> None:
    async def body(runtime: CallbackRuntime) -> Attempt:
        return await runtime.run("echo", raw_input=base64.b64encode(b"5").decode())

    attempt = worker(socket_dir, body)
    assert attempt.callback["error"]["details"] == (
        "TypeError: task 'echo' input must be a JSON array (positional arguments) or object (keyword "
        "arguments), got int"
    )


def test_unawaited_subtask_is_fully_submitted_before_the_callback(socket_dir: Path) -> None:
    attempt = run_one(socket_dir, "fire_and_forget")
    assert attempt.result == ["done"]
    assert attempt.paths() == ["/input", "/run-subtask", "/callback"]


def test_sync_body_runs_in_the_main_thread_without_an_event_loop(socket_dir: Path) -> None:
    # A synchronous task cannot start subtasks, so its worker has nothing else to serve (as in Render's SDK).
    assert run_one(socket_dir, "body_thread").result == [{"main_thread": True, "event_loop": False}]


def test_sync_body_that_returns_a_coroutine_is_awaited_and_can_start_subtasks(socket_dir: Path) -> None:
    attempt = run_one(socket_dir, "wrapped_coroutine", [41])
    assert attempt.result == [42]
    assert attempt.paths()[:2] == ["/input", "/run-subtask"]


def test_system_exit_in_a_sync_body_fails_the_run(socket_dir: Path) -> None:
    attempt = run_one(socket_dir, "exits")
    assert attempt.returncode == 1
    assert attempt.callback["error"]["details"] == "RuntimeError: task 'exits' raised SystemExit(3)"


def test_worker_does_not_import_the_rest_client(socket_dir: Path) -> None:
    assert run_one(socket_dir, "heavy_modules").result == [[]]


def test_registration_payload_of_options_and_parameters(socket_dir: Path) -> None:
    async def body(runtime: CallbackRuntime) -> Attempt:
        return await runtime.register()

    attempt = worker(socket_dir, body)
    tasks = {task["name"]: task for task in attempt.requests[0].body["tasks"]}
    assert tasks["custom-name"] == {
        "name": "custom-name",
        "options": {
            "retry": {"max_retries": 5, "wait_duration_ms": 2000, "factor": 1.5},
            "timeout_seconds": 120,
            "plan": "pro",
        },
        "parameters": [
            {"name": "numbers", "has_default": False, "type": "list[int]"},
            {"name": "label", "has_default": True, "type": "str | None", "default_value": "null"},
        ],
    }
    assert tasks["no_args"] == {"name": "no_args", "options": WORKER_DEFAULTS}
    assert tasks["echo"]["parameters"] == [{"name": "value", "has_default": False}]
    assert tasks["pair"]["parameters"][1] == {
        "name": "b",
        "has_default": True,
        "type": "int",
        "default_value": "2",
    }


# Transport: retries, idempotency, permanent errors


def test_transient_failures_are_retried_and_subtask_submission_is_idempotent(socket_dir: Path) -> None:
    faults = {"/input": [503, 0], "/run-subtask": [500, 0, 429], "/callback": [502]}

    async def body(runtime: CallbackRuntime) -> Attempt:
        return await runtime.run("keyword_subtask")

    attempt = worker(socket_dir, body, faults=faults)
    assert attempt.returncode == 0, attempt.stderr
    assert attempt.result == [[1, 2]]
    submissions = [request.body for request in attempt.requests if request.path == "/run-subtask"]
    assert len(submissions) == 4
    assert all(submission == submissions[0] for submission in submissions)
    assert set(submissions[0]) == {"task_name", "input", "idempotency_key", "created_at"}
    assert attempt.paths().count("/input") == 3
    assert attempt.paths().count("/callback") == 2
    assert "retrying" in attempt.stderr


def test_permanent_client_errors_are_not_retried(socket_dir: Path) -> None:
    attempt = run_one(socket_dir, "no_args", faults={"/callback": [400]})
    assert attempt.returncode == 1
    assert attempt.paths() == ["/input", "/callback"]
    assert "post callback failed with HTTP 400: injected fault 400" in attempt.stderr
