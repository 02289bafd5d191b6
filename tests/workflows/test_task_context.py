"""Render SDK 1.x's task API beside the seed's: TaskContext, ctx.run, ctx.metadata and current_run().

Both styles run as real worker processes against the callback runtime (which sends the run's identity on
``GET /input``), the typing is checked by running mypy --strict, and render==1.5.0's README example runs with
only its import line changed.
"""

from __future__ import annotations

import base64
import functools
import inspect
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from render_sdk_callback_api.models import Tasks

from render_sdk import RenderSync, Retry, TaskContext, Workflows
from render_sdk._protocol.wire import from_wire
from render_sdk.client import ListTaskRunsParams
from render_sdk.workflows import TaskRunMetadata, current_run
from render_sdk.workflows._register import task_definition

from .callback_runtime import REPO_ROOT, WORKERS, Attempt, CallbackRuntime, worker_env
from .test_worker_process import scenario

if TYPE_CHECKING:
    import render_sdk.workflows as typing_only

# One copy of the README app, shared with tests/compat (which runs it under render-workflows dev).
README_WORKER = Path(__file__).parents[1] / "compat" / "workers" / "render_1_5_0_readme"


def mixed(socket_dir: Path, task_name: str, input_value: Any) -> tuple[CallbackRuntime, Attempt]:
    async def body(runtime: CallbackRuntime) -> tuple[CallbackRuntime, Attempt]:
        return runtime, await runtime.run(task_name, input_value)

    return scenario(socket_dir, [sys.executable, "mixed_styles.py"], WORKERS, body)


def identity(attempt: Attempt) -> dict[str, Any]:
    parent = attempt.parent.task_run_id if attempt.parent is not None else None
    return {
        "task_run_id": attempt.task_run_id,
        "root_task_run_id": attempt.root.task_run_id,
        "parent_task_run_id": parent,
        "task_name": attempt.task_name,
        "attempt": 0,
    }


def test_the_context_parameter_is_left_out_of_the_registration(socket_dir: Path) -> None:
    async def body(runtime: CallbackRuntime) -> Attempt:
        return await runtime.register()

    runtime_attempt = scenario(socket_dir, [sys.executable, "mixed_styles.py"], WORKERS, body)
    assert runtime_attempt.returncode == 0, runtime_attempt.stderr
    (request,) = runtime_attempt.requests
    tasks = {task.name: task for task in from_wire(Tasks, request.body).tasks}
    assert {name: [p.name for p in task.parameters or []] for name, task in tasks.items()} == {
        "square": ["a"],
        "cube": ["a"],
        "whoami": [],
        "ctx_parent": ["n"],
        "seed_parent": ["n"],
    }


def test_a_context_task_runs_subtasks_of_both_styles_and_sees_its_identity(socket_dir: Path) -> None:
    runtime, attempt = mixed(socket_dir, "ctx_parent", [3])
    (result,) = attempt.result
    children = {child.task_name: child for child in runtime.children(attempt)}
    assert result["squares"] == [0, 1, 4] and result["cube"] == 27
    assert result["me"] == result["current_run"] == identity(attempt)
    assert result["child"] == identity(children["whoami"])
    assert [child.task_name for child in runtime.children(attempt)].count("square") == 3
    assert decode_input(children["cube"]) == {"a": 3}  # ctx.run(cube, a=n): keyword input


def test_a_seed_task_calls_context_tasks_and_reads_current_run(socket_dir: Path) -> None:
    runtime, attempt = mixed(socket_dir, "seed_parent", [2])
    (result,) = attempt.result
    children = {child.task_name: child for child in runtime.children(attempt)}
    assert (result["squares"], result["cube"]) == ([0, 1], 8)
    assert result["me"] == identity(attempt)
    assert result["child"] == identity(children["whoami"])
    nested = result["nested"]
    grandchild = next(c for c in runtime.children(children["ctx_parent"]) if c.task_name == "whoami")
    assert nested["me"] == identity(children["ctx_parent"])
    assert nested["child"] == identity(grandchild)
    assert nested["child"]["root_task_run_id"] == attempt.task_run_id


def decode_input(attempt: Attempt) -> Any:
    assert attempt.input_payload is not None
    return json.loads(base64.b64decode(attempt.input_payload))


def test_render_1_5_0_readme_example_registers_and_runs_every_task(socket_dir: Path) -> None:
    async def body(runtime: CallbackRuntime) -> tuple[Attempt, dict[str, Attempt]]:
        registration = await runtime.register()
        runs = {
            "square": await runtime.run("square", [4]),
            "add_squares": await runtime.run("add_squares", [3, 4]),
            "sum_squares": await runtime.run("sum_squares", [[1, 2, 3]]),
            "quick_task": await runtime.run("quick_task", {"x": 1}),
            "retryable_task": await runtime.run("retryable_task", [21]),
        }
        return registration, runs

    registration, runs = scenario(socket_dir, [sys.executable, "main.py"], README_WORKER, body)
    assert registration.returncode == 0, registration.stderr
    tasks = {task.name: task for task in from_wire(Tasks, registration.requests[0].body).tasks}
    assert list(tasks) == ["square", "add_squares", "sum_squares", "quick_task", "retryable_task"]
    assert [p.name for p in tasks["add_squares"].parameters or []] == ["a", "b"]
    options = {name: task.options for name, task in tasks.items()}
    assert (options["quick_task"].timeout_seconds, options["quick_task"].plan) == (60, "starter")
    assert options["square"].retry is not None
    assert (options["square"].retry.max_retries, options["square"].retry.factor) == (3, 1.5)
    assert options["retryable_task"].retry is not None and options["retryable_task"].retry.factor == 2.0
    assert {name: run.result for name, run in runs.items()} == {
        "square": [16],
        "add_squares": [25],
        "sum_squares": [14],
        "quick_task": [2],
        "retryable_task": [42],
    }


def test_timeout_seconds_is_the_1x_spelling_of_timeout() -> None:
    app = Workflows()

    @app.task(timeout_seconds=45)
    def job(ctx: TaskContext) -> None: ...

    assert job.options.timeout == 45
    with pytest.raises(TypeError, match=r"timeout or timeout_seconds .*not both: got timeout=60"):
        app.task(timeout=60, timeout_seconds=60)
    with pytest.raises(ValueError, match="task 'late': timeout must be an int number of seconds from 30"):

        @app.task(name="late", timeout_seconds=10)
        def late() -> None: ...


def test_no_default_retry_registers_no_retry_policy() -> None:
    app = Workflows(default_retry=None)

    @app.task
    def once() -> None: ...

    @app.task(retry=Retry(2, 100))
    def twice() -> None: ...

    assert app.default_retry is None and once.options.retry is None
    assert "retry" not in task_definition(once)["options"]
    assert task_definition(twice)["options"]["retry"] == {
        "max_retries": 2,
        "wait_duration_ms": 100,
        "factor": 1.5,
    }


def test_which_first_parameters_count_as_the_context() -> None:
    app = Workflows()

    @app.task
    def string_annotation(ctx: TaskContext, a: int) -> int:  # a string: `from __future__ import annotations`
        return a

    @app.task
    def typing_only_import(ctx: typing_only.TaskContext) -> None: ...

    @app.task
    def not_first(a: int, ctx: TaskContext) -> int:
        return a

    @app.task
    def unannotated(ctx, a):
        return a

    @app.task
    def keyword_only(*, ctx: TaskContext) -> None: ...

    assert string_annotation.takes_context and typing_only_import.takes_context
    assert not not_first.takes_context and not unannotated.takes_context
    assert [p.name for p in string_annotation.input_signature.parameters.values()] == ["a"]
    with pytest.raises(
        TypeError, match="the TaskContext parameter 'ctx' must be the first positional parameter"
    ):
        keyword_only.takes_context  # noqa: B018


def _bodies() -> list[Callable[..., Any]]:
    def first(ctx: TaskContext, a: int) -> int:  # a string annotation, as everywhere in this module
        return a

    async def first_async(ctx: typing_only.TaskContext) -> None: ...

    def positional_only(ctx: TaskContext, /, a: int) -> None: ...

    def second(a: int, ctx: TaskContext) -> None: ...

    def other_annotation(ctx: int) -> None: ...

    def none_annotation(ctx: None) -> None: ...

    def no_parameters() -> None: ...

    def var_positional(*args: TaskContext) -> None: ...

    def keyword_only(*, ctx: TaskContext) -> None: ...

    def var_keyword(**kwargs: TaskContext) -> None: ...

    async def async_var_positional(*args: int) -> None: ...

    return [
        first,
        first_async,
        positional_only,
        second,
        other_annotation,
        none_annotation,
        no_parameters,
        var_positional,
        keyword_only,
        var_keyword,
        async_var_positional,
        lambda ctx, a: a,
    ]


def _reading(read: Callable[[], bool]) -> bool | str:
    try:
        return read()
    except TypeError as exc:
        return str(exc)


@pytest.mark.parametrize("body", _bodies(), ids=lambda body: body.__name__)
def test_reading_a_plain_function_without_inspect_agrees_with_inspect(body: Callable[..., Any]) -> None:
    task = Workflows().task(name="body")(body)
    # A wrapper (with __wrapped__) is read through inspect.signature, which follows it to the body.
    wrapped = Workflows().task(name="body")(functools.wraps(body)(lambda *args, **kwargs: None))
    assert _reading(lambda: task.takes_context) == _reading(lambda: wrapped.takes_context)
    assert task.is_async == inspect.iscoroutinefunction(body)


def test_current_run_outside_a_task_is_an_error() -> None:
    with pytest.raises(RuntimeError, match=r"current_run\(\) was called outside a running task"):
        current_run()
    assert TaskRunMetadata() == TaskRunMetadata(None, None, None, None, None)


TYPING_PROBE = """\
from render_sdk import TaskContext, Workflows
from render_sdk.testing import run_task

app = Workflows()


@app.task
def square(ctx: TaskContext, a: int) -> int:
    return a * a


@app.task
async def seed_square(a: int) -> int:
    return a * a


@app.task
async def probe(ctx: TaskContext, text: str) -> None:
    reveal_type(await ctx.run(square, 5))
    reveal_type(await ctx.run(seed_square, a=5))
    reveal_type(await seed_square(5))
    reveal_type(square)
    reveal_type(ctx.metadata.task_run_id)
    await ctx.run(square, "five")
    await ctx.run(square, 1, 2)
    await ctx.run(seed_square, b=5)


reveal_type(run_task(square, 5))
run_task(seed_square, "five")
"""


def test_mypy_types_ctx_run_from_the_task_signature(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(TYPING_PROBE)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--python-version=3.10",
            "--no-error-summary",
            "--hide-error-context",
            str(probe),
            str(WORKERS / "mixed_styles.py"),
            str(README_WORKER / "main.py"),
        ],
        cwd=REPO_ROOT,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=110,
    )
    # Every line is about the probe: both apps type-check cleanly. Notes pointing at definitions are left out.
    lines = [
        re.sub(r"^.*probe\.py:(\d+): ", r"\1: ", line)
        for line in result.stdout.splitlines()
        if " defined in " not in line
    ]
    assert lines == [
        '19: note: Revealed type is "int"',
        '20: note: Revealed type is "int"',
        '21: note: Revealed type is "int"',
        '22: note: Revealed type is "render_sdk.workflows._task.Task[[a: int], int]"',
        '23: note: Revealed type is "str | None"',
        '24: error: Argument 2 to "run" of "TaskContext" has incompatible type "str"; expected "int"'
        "  [arg-type]",
        '25: error: Too many arguments for "run" of "TaskContext"  [call-arg]',
        '26: error: Unexpected keyword argument "b" for "run" of "TaskContext"  [call-arg]',
        '29: note: Revealed type is "int"',
        '30: error: Argument 2 to "run_task" has incompatible type "str"; expected "int"  [arg-type]',
    ], result.stdout + result.stderr


# Under the real local runtime (`render-workflows dev`), cold and prefork. These need the local runtime's
# `dev(argv)` entry point (helper C's branch) to start at all.
@pytest.mark.parametrize("dev_args", [(), ("--prefork",)], ids=["cold", "prefork"])
def test_both_styles_end_to_end_under_render_workflows_dev(start_local_runtime: Any, dev_args: Any) -> None:
    server = start_local_runtime(
        [sys.executable, "mixed_styles.py"], cwd=WORKERS, args=("--workflow-slug", "mixed", *dev_args)
    )
    with RenderSync(base_url=server.url) as render:
        ctx_run = render.workflows.run_task("mixed/ctx_parent", [3]).wait()
        seed_run = render.workflows.run_task("mixed/seed_parent", [2]).wait()
        tree = list(render.workflows.list_task_runs(ListTaskRunsParams(root_task_run_ids=[seed_run.id])))
    (ctx_result,) = ctx_run.results or [None]
    assert (ctx_result["squares"], ctx_result["cube"]) == ([0, 1, 4], 27)
    assert (ctx_result["me"]["task_name"], ctx_result["child"]["task_name"]) == ("ctx_parent", "whoami")
    (seed_result,) = seed_run.results or [None]
    assert (seed_result["squares"], seed_result["cube"], seed_result["nested"]["squares"]) == ([0, 1], 8, [0])
    # seed_parent, its square x2, cube, whoami and ctx_parent, and that one's square, cube and whoami.
    assert len(tree) == 9


def test_metadata_equals_the_rest_ids_under_render_workflows_dev(start_local_runtime: Any) -> None:
    server = start_local_runtime(
        [sys.executable, "mixed_styles.py"], cwd=WORKERS, args=("--workflow-slug", "m")
    )
    with RenderSync(base_url=server.url) as render:
        run = render.workflows.run_task("m/ctx_parent", [1]).wait()
        tree = {
            r.id: r for r in render.workflows.list_task_runs(ListTaskRunsParams(root_task_run_ids=[run.id]))
        }
    (result,) = run.results or [None]
    assert result["me"] == result["current_run"]
    assert (result["me"]["task_run_id"], result["me"]["root_task_run_id"]) == (run.id, run.id)
    assert result["me"]["parent_task_run_id"] is None
    child = tree[result["child"]["task_run_id"]]
    assert (child.parent_task_run_id, child.root_task_run_id) == (run.id, run.id)
    assert (result["child"]["root_task_run_id"], result["child"]["parent_task_run_id"]) == (run.id, run.id)
