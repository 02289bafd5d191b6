"""Workflows, @app.task and Retry: defaults, overrides and validation at import time."""

from __future__ import annotations

import copy
import pickle

import pytest
from render_sdk_callback_api.models import RetryOptions, TaskDefinition, TaskOptions

from render_sdk import Retry, TaskInstance, Workflows
from render_sdk._protocol.wire import from_wire
from render_sdk.workflows import Task
from render_sdk.workflows._register import task_definition
from render_sdk.workflows._serving import merge_tasks


def test_defaults_match_the_reference() -> None:
    app = Workflows()
    assert app.default_retry == Retry(max_retries=3, wait_duration_ms=1000, backoff_scaling=2.0)
    assert (app.default_timeout, app.default_plan, app.auto_start) == (300, "standard", False)
    assert Retry(5, 2000).backoff_scaling == 1.5


def test_bare_and_configured_decorators() -> None:
    app = Workflows(default_retry=Retry(1, 10, 1.0), default_timeout=60, default_plan="starter")

    @app.task
    def plain(a: int) -> int:
        return a

    @app.task(
        name="custom_square", retry=Retry(max_retries=5, wait_duration_ms=2000), timeout=900, plan="pro"
    )
    async def my_square(a: int) -> int:
        return a * a

    assert isinstance(plain, Task) and plain.name == "plain" and not plain.is_async
    assert plain.__name__ == "plain" and plain.func(4) == 4
    assert my_square.name == "custom_square" and my_square.is_async
    assert list(app.tasks) == ["plain", "custom_square"]
    assert from_wire(TaskDefinition, task_definition(plain)).options == TaskOptions(
        retry=RetryOptions(max_retries=1, wait_duration_ms=10, factor=1.0), timeout_seconds=60, plan="starter"
    )
    assert from_wire(TaskDefinition, task_definition(my_square)).options == TaskOptions(
        retry=RetryOptions(max_retries=5, wait_duration_ms=2000, factor=1.5), timeout_seconds=900, plan="pro"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": 29}, "task 'job': timeout must be an int number of seconds from 30 to 86400, got 29"),
        ({"timeout": 86401}, "got 86401"),
        ({"timeout": 60.0}, "got 60.0"),
        ({"timeout": True}, "got True"),
        ({"plan": "huge"}, "task 'job': plan must be one of 'starter', 'standard', 'pro', got 'huge'"),
        ({"retry": 3}, "task 'job': retry must be a render_sdk.Retry or None, got 3"),
    ],
)
def test_task_options_are_validated_naming_the_task(options: dict[str, object], message: str) -> None:
    app = Workflows()
    with pytest.raises((ValueError, TypeError)) as caught:

        @app.task(name="job", **options)  # type: ignore[arg-type]
        def job() -> None: ...

    assert str(caught.value).startswith("task 'job': ")
    assert str(caught.value).endswith(message)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"default_timeout": 10}, r"Workflows\(default_timeout=...\): timeout must be .* got 10"),
        ({"default_plan": "free"}, r"Workflows\(default_plan=...\): plan must be one of .* got 'free'"),
        ({"default_retry": 3}, r"Workflows\(default_retry=...\): retry must be a render_sdk.Retry"),
        ({"auto_start": "yes"}, r"auto_start=...\) must be a bool"),
    ],
)
def test_app_defaults_are_validated(arguments: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        Workflows(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((-1, 0), "max_retries must be an int >= 0, got -1"),
        ((1, -5), "wait_duration_ms must be an int >= 0, got -5"),
        ((1, 1.5), "wait_duration_ms must be an int >= 0, got 1.5"),
        ((1, 1, 0.5), "backoff_scaling must be a number >= 1, got 0.5"),
        ((1, 1, float("nan")), "backoff_scaling must be a number >= 1, got nan"),
    ],
)
def test_retry_is_validated(arguments: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Retry(*arguments)  # type: ignore[arg-type]


def test_retry_is_an_immutable_value() -> None:
    retry = Retry(2, 500, 3)
    assert retry == Retry(max_retries=2, wait_duration_ms=500, backoff_scaling=3)
    assert retry != Retry(2, 500) and retry != (2, 500, 3)
    assert len({retry, Retry(2, 500, 3)}) == 1
    assert repr(retry) == "Retry(max_retries=2, wait_duration_ms=500, backoff_scaling=3)"
    assert copy.deepcopy(retry) == retry == pickle.loads(pickle.dumps(retry))
    with pytest.raises(AttributeError, match="Retry is immutable"):
        retry.max_retries = 5
    with pytest.raises(AttributeError, match="Retry is immutable"):
        del retry.max_retries


@pytest.mark.parametrize("name", ["has space", "slash/name", "version:1", "-leading", "", "émoji", "dot.ted"])
def test_task_names_must_fit_a_slug(name: str) -> None:
    app = Workflows()
    with pytest.raises(ValueError, match="may contain only ASCII letters, digits, '_' and '-'") as caught:
        app.task(name=name)(lambda: None)
    assert repr(name) in str(caught.value)


def test_duplicate_names_fail_naming_both_functions() -> None:
    app = Workflows()

    @app.task(name="same")
    def first() -> None: ...

    with pytest.raises(ValueError) as caught:

        @app.task(name="same")
        def second() -> None: ...

    message = str(caught.value)
    assert "duplicate task name 'same'" in message
    assert "test_duplicate_names_fail_naming_both_functions.<locals>.first" in message
    assert "test_duplicate_names_fail_naming_both_functions.<locals>.second" in message


def test_decorating_twice_or_a_non_function_fails() -> None:
    app = Workflows()

    @app.task
    def once() -> None: ...

    with pytest.raises(TypeError, match="already a task"):
        app.task(once)
    with pytest.raises(TypeError, match="needs a function"):
        app.task(42)  # type: ignore[call-overload]


def test_from_workflows_combines_apps_and_keeps_their_options() -> None:
    math = Workflows(default_plan="pro")
    data = Workflows(default_timeout=900)

    @math.task
    def square(a: int) -> int:
        return a * a

    @data.task
    def load() -> None: ...

    combined = Workflows.from_workflows(math, data)

    @data.task
    def added_later() -> None: ...

    assert list(combined.tasks) == ["square", "load", "added_later"]
    assert combined.tasks["square"].options.plan == "pro"
    assert combined.tasks["load"].options.timeout == 900


def test_from_workflows_rejects_clashing_names() -> None:
    first, second = Workflows(), Workflows()
    first.task(name="job")(lambda: 1)
    second.task(name="job")(lambda: 2)
    with pytest.raises(ValueError, match="two different tasks are named 'job'"):
        Workflows.from_workflows(first, second)
    with pytest.raises(TypeError, match="takes Workflows apps"):
        Workflows.from_workflows(first, "second")  # type: ignore[arg-type]


def test_the_same_definition_seen_twice_counts_once() -> None:
    apps = [Workflows(), Workflows()]

    def define(app: Workflows) -> Task[[int], int]:
        @app.task
        def shared(a: int) -> int:  # One source line, two function objects: a module imported twice.
            return a

        return shared

    tasks = [define(app) for app in apps]
    assert merge_tasks(apps) == {"shared": tasks[0]}


def test_calling_with_bad_arguments_is_checked_before_submission() -> None:
    app = Workflows()

    @app.task
    def pair(a: int, b: int = 2) -> list[int]:
        return [a, b]

    assert pair.make_input((1,), {}) == [1]
    assert pair.make_input((), {"a": 1}) == {"a": 1}
    with pytest.raises(TypeError, match=r"kwargs\[\"a\"\]\[0\] is of type set"):
        pair.make_input((), {"a": [{1}]})
    with pytest.raises(TypeError, match="too many positional arguments"):
        pair.make_input((1, 2, 3), {})


def test_task_instance_is_exported() -> None:
    assert TaskInstance.__name__ == "TaskInstance"
