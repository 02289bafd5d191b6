"""render_sdk.testing: tasks run in-process with inline subtasks, retries without sleeping, runs recorded."""

from __future__ import annotations

import asyncio
import datetime
import time

import pytest

from render_sdk import Retry, TaskContext, TaskRunMetadata, Workflows
from render_sdk.client.errors import TaskRunError
from render_sdk.testing import InlineContext, TaskRunner, run_task
from render_sdk.workflows import Task, current_run

app = Workflows()
attempts_seen: dict[str, int] = {}


@app.task
def square(a: int) -> int:
    return a * a


@app.task
async def add_squares(a: int, b: int) -> int:
    return await square(a) + await square(b)


@app.task
async def fan_out(n: int) -> list[int]:
    return list(await asyncio.gather(*[square(i) for i in range(n)]))


@app.task(retry=Retry(max_retries=3, wait_duration_ms=100, backoff_scaling=2.0))
def flaky(key: str, failures: int) -> str:
    attempts_seen[key] = attempts_seen.get(key, 0) + 1
    if attempts_seen[key] <= failures:
        raise RuntimeError(f"attempt {attempts_seen[key]} failed")
    return f"ok after {attempts_seen[key]}"


@app.task(retry=Retry(max_retries=2, wait_duration_ms=10_000, backoff_scaling=3.0))
def always_fails(reason: str) -> None:
    raise ValueError(reason)


@app.task
async def catches(reason: str) -> str:
    try:
        await always_fails(reason)
    except TaskRunError as exc:
        return f"caught {exc.error}"
    return "not caught"


@app.task(retry=Retry(0, 0))
async def propagates(reason: str) -> None:
    await always_fails(reason)


@app.task
def pair(a: int, b: int = 2) -> tuple[int, int]:
    return (a, b)


@app.task(retry=Retry(0, 0))
def returns_date() -> datetime.date:
    return datetime.date(2024, 1, 1)


@app.task(retry=Retry(0, 0))
def sync_calls_subtask() -> None:
    square(2)


@app.task
async def fire_and_forget() -> str:
    square(7)
    return "done"


@app.task
async def slow(value: int) -> int:
    await asyncio.sleep(0.3)
    return value


@app.task
async def slow_fan_out(n: int) -> list[int]:
    return list(await asyncio.gather(*[slow(i) for i in range(n)]))


def test_subtasks_run_inline_and_every_run_is_recorded() -> None:
    runner = TaskRunner()
    assert runner.run(fan_out, 3) == [0, 1, 4]
    root, *children = runner.runs
    assert (root.task_name, root.input, root.status, root.result, root.parent) == (
        "fan_out",
        [3],
        "completed",
        [0, 1, 4],
        None,
    )
    assert [(run.task_name, run.input, run.result, run.parent) for run in children] == [
        ("square", [0], 0, root),
        ("square", [1], 1, root),
        ("square", [2], 4, root),
    ]
    assert [run.id for run in runner.runs] == ["run-1", "run-2", "run-3", "run-4"]
    assert runner.runs_of(square) == children
    assert runner.runs_of("fan_out") == [root]


def test_run_task_shortcut_and_keyword_arguments() -> None:
    assert run_task(add_squares, 3, 4) == 25
    assert run_task(add_squares, a=1, b=2) == 5
    runner = TaskRunner()
    assert runner.run(pair, a=1) == [1, 2]  # A tuple comes back as a list, as from Render.
    assert runner.runs[0].input == {"a": 1}


def test_retries_follow_the_policy_without_sleeping() -> None:
    runner = TaskRunner()
    assert runner.run(flaky, "two-failures", 2) == "ok after 3"
    (run,) = runner.runs
    assert run.attempts == 3
    assert run.errors == ["RuntimeError: attempt 1 failed", "RuntimeError: attempt 2 failed"]
    assert run.retry_waits_ms == [100, 200]
    assert run.status == "completed" and run.error is None


def test_final_failure_raises_task_run_error() -> None:
    runner = TaskRunner()
    started = time.monotonic()
    with pytest.raises(TaskRunError) as caught:
        runner.run(always_fails, "broken")
    assert time.monotonic() - started < 5  # 10 s + 30 s of retry waits were recorded, not slept.
    assert caught.value.error == "ValueError: broken"
    assert str(caught.value) == "task 'always_fails' (run-1) failed: ValueError: broken"
    assert isinstance(caught.value.__cause__, ValueError)
    (run,) = runner.runs
    assert (run.status, run.attempts, run.retry_waits_ms, run.error) == (
        "failed",
        3,
        [10_000, 30_000],
        "ValueError: broken",
    )
    assert isinstance(run.exception, ValueError)


def test_failed_subtask_raises_in_the_parent() -> None:
    assert run_task(catches, "nope") == "caught ValueError: nope"
    runner = TaskRunner()
    with pytest.raises(TaskRunError) as caught:
        runner.run(propagates, "deep")
    assert caught.value.error == "TaskRunError: subtask 'always_fails' (run-2) failed: ValueError: deep"
    assert [(run.task_name, run.status, run.attempts) for run in runner.runs] == [
        ("propagates", "failed", 1),
        ("always_fails", "failed", 3),
    ]


def test_results_and_arguments_must_be_json() -> None:
    with pytest.raises(TaskRunError) as caught:
        run_task(returns_date)
    assert caught.value.error == (
        "TypeError: task 'returns_date' returned a value that is not JSON: result is of type date, which is "
        "not JSON-serializable"
    )
    with pytest.raises(TypeError, match=r"args\[0\] is of type date"):
        run_task(square, datetime.date(2024, 1, 1))
    with pytest.raises(ValueError, match="both positional and keyword"):
        run_task(pair, 1, b=2)
    with pytest.raises(TypeError, match="cannot be called with these arguments: missing a required argument"):
        run_task(add_squares, 1)
    with pytest.raises(TypeError, match=r"runs tasks defined with @app\.task"):
        run_task(square.func, 2)  # type: ignore[arg-type]


def test_sync_task_cannot_call_subtasks() -> None:
    with pytest.raises(TaskRunError, match="called from the synchronous task 'sync_calls_subtask'"):
        run_task(sync_calls_subtask)


def test_unawaited_subtasks_still_run() -> None:
    runner = TaskRunner()
    assert runner.run(fire_and_forget) == "done"
    assert [(run.task_name, run.status, run.result) for run in runner.runs] == [
        ("fire_and_forget", "completed", "done"),
        ("square", "completed", 49),
    ]


def test_gathered_subtasks_run_in_parallel() -> None:
    started = time.monotonic()
    assert run_task(slow_fan_out, 5) == [0, 1, 2, 3, 4]
    assert time.monotonic() - started < 5 * 0.3


def test_run_async_inside_a_running_loop() -> None:
    async def main() -> int:
        runner = TaskRunner()
        with pytest.raises(RuntimeError, match="await run_async"):
            runner.run(square, 2)
        return await runner.run_async(add_squares, 1, 1)

    assert asyncio.run(main()) == 2


def test_calling_a_task_outside_a_task_says_what_to_do() -> None:
    with pytest.raises(RuntimeError) as caught:
        square(3)
    message = str(caught.value)
    assert "outside a running task" in message
    assert 'Render().workflows.run_task("<workflow-slug>/square", [...])' in message
    assert "render_sdk.testing.run_task(square, ...)" in message
    assert square.func(3) == 9


@app.task
async def ctx_add_squares(ctx: TaskContext, a: int, b: int) -> dict[str, object]:
    total = await ctx.run(square, a) + await ctx.run(square, a=b)
    return {"total": total, "me": ctx.metadata._asdict(), "child": await ctx.run(ctx_whoami)}


@app.task
def ctx_whoami(ctx: TaskContext) -> dict[str, object]:
    return {**ctx.metadata._asdict(), "current_run": current_run()._asdict()}


@app.task(retry=Retry(max_retries=1, wait_duration_ms=0))
def ctx_flaky(ctx: TaskContext) -> int | None:
    if ctx.metadata.attempt == 0:
        raise RuntimeError("first attempt fails")
    return ctx.metadata.attempt


@app.task(retry=Retry(0, 0))
async def ctx_runs_a_plain_function(ctx: TaskContext) -> None:
    await ctx.run(square.func, 2)  # type: ignore[arg-type]


no_retries = Workflows(default_retry=None)


@no_retries.task
def fails_once_only() -> None:
    raise RuntimeError("no retry")


def test_context_tasks_get_the_recorded_runs_identity() -> None:
    runner = TaskRunner()
    result = runner.run(ctx_add_squares, 3, 4)
    assert result["total"] == 25
    assert result["me"] == {
        "task_run_id": "run-1",
        "root_task_run_id": "run-1",
        "parent_task_run_id": None,
        "task_name": "ctx_add_squares",
        "attempt": 0,
    }
    child = {
        "task_run_id": "run-4",
        "root_task_run_id": "run-1",
        "parent_task_run_id": "run-1",
        "task_name": "ctx_whoami",
        "attempt": 0,
    }
    assert result["child"] == {**child, "current_run": child}
    assert [(run.task_name, run.input, run.parent) for run in runner.runs[1:3]] == [
        ("square", [3], runner.runs[0]),
        ("square", {"a": 4}, runner.runs[0]),
    ]
    assert runner.run(ctx_flaky) == 1  # attempt counts from 0
    assert runner.runs_of(ctx_flaky)[0].attempts == 2


def test_ctx_run_takes_only_tasks() -> None:
    with pytest.raises(
        TaskRunError, match=r"ctx\.run\(\) takes a task defined with @app\.task, got <function"
    ):
        run_task(ctx_runs_a_plain_function)


def test_no_default_retry_means_one_attempt() -> None:
    runner = TaskRunner()
    with pytest.raises(TaskRunError, match="no retry"):
        runner.run(fails_once_only)
    assert runner.runs[0].attempts == 1


def test_a_context_body_can_be_called_with_an_inline_or_a_custom_context() -> None:
    inline = InlineContext(TaskRunMetadata(task_run_id="trn-test", task_name="ctx_add_squares"))
    result = asyncio.run(ctx_add_squares.func(inline, 1, 2))
    assert result["total"] == 5 and result["me"]["task_run_id"] == "trn-test"
    assert [run.task_name for run in inline.runner.runs] == ["square", "square", "ctx_whoami"]

    class Canned:
        """A TaskContext of a test's own: answers every subtask with 10."""

        metadata = TaskRunMetadata(task_name="canned")

        async def run(self, task: Task[..., object], /, *args: object, **kwargs: object) -> int:
            return 10

    context: TaskContext = Canned()
    assert asyncio.run(ctx_add_squares.func(context, 1, 2))["total"] == 20
