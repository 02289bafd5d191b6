"""What ``POST /register-tasks`` says about each task: plain JSON that must fit the generated model."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Optional

import pytest
from render_sdk_callback_api.models import TaskDefinition

from render_sdk import Retry, Workflows
from render_sdk._protocol.wire import from_wire, to_wire
from render_sdk.workflows._register import task_definition

app = Workflows(default_retry=Retry(2, 500, 3), default_timeout=60, default_plan="starter")


def no_parameters() -> None: ...


def annotated(a: int, b: list[int], c: Optional[str] = None, d: float = 1.5) -> None: ...  # noqa: UP045


def unannotated(a, b=(1, 2), *args, c={"k": [1]}, **kwargs):  # type: ignore[no-untyped-def]  # noqa: B006
    ...


def evaluated_annotations(a, b, c=3):  # type: ignore[no-untyped-def]
    ...


# What a module without `from __future__ import annotations` (unlike this one) has: objects, not text.
evaluated_annotations.__annotations__ = {"a": int, "b": list[int], "c": Optional[int]}  # noqa: UP045


def non_json_defaults(a: float = float("nan"), b: object = object(), c: tuple[int, int] = (1, 2)) -> None: ...


def keyword_only(*, a: int, b: bool = False) -> None: ...


def decorated(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


@decorated
def wrapped(x: int, y: str = "y") -> None: ...


CASES = {
    no_parameters: None,
    annotated: [
        {"name": "a", "has_default": False, "type": "int"},
        {"name": "b", "has_default": False, "type": "list[int]"},
        {"name": "c", "has_default": True, "type": "Optional[str]", "default_value": "null"},
        {"name": "d", "has_default": True, "type": "float", "default_value": "1.5"},
    ],
    unannotated: [
        {"name": "a", "has_default": False},
        {"name": "b", "has_default": True, "default_value": "[1,2]"},
        {"name": "c", "has_default": True, "default_value": '{"k":[1]}'},
    ],
    evaluated_annotations: [
        {"name": "a", "has_default": False, "type": "int"},
        {"name": "b", "has_default": False, "type": "list[int]"},
        {"name": "c", "has_default": True, "type": "Optional[int]", "default_value": "3"},
    ],
    non_json_defaults: [
        {"name": "a", "has_default": True, "type": "float"},
        {"name": "b", "has_default": True, "type": "object"},
        {"name": "c", "has_default": True, "type": "tuple[int, int]", "default_value": "[1,2]"},
    ],
    keyword_only: [
        {"name": "a", "has_default": False, "type": "int"},
        {"name": "b", "has_default": True, "type": "bool", "default_value": "false"},
    ],
    wrapped: [
        {"name": "x", "has_default": False, "type": "int"},
        {"name": "y", "has_default": True, "type": "str", "default_value": '"y"'},
    ],
}


@pytest.mark.parametrize(("func", "parameters"), CASES.items(), ids=[func.__name__ for func in CASES])
def test_parameters_are_described_as_the_model_expects(
    func: Callable[..., Any], parameters: list[dict[str, Any]] | None
) -> None:
    definition = task_definition(app.task(func))
    expected_options = {
        "retry": {"max_retries": 2, "wait_duration_ms": 500, "factor": 3.0},
        "timeout_seconds": 60,
        "plan": "starter",
    }
    assert definition["options"] == expected_options
    assert definition.get("parameters") == parameters
    # A round trip through the generated model keeps everything: no unknown keys, every type right.
    assert to_wire(from_wire(TaskDefinition, definition)) == definition


def test_a_signature_override_is_respected() -> None:
    def body(*args: Any) -> None: ...

    body.__signature__ = __import__("inspect").signature(lambda n, m=2: None)  # type: ignore[attr-defined]
    assert task_definition(app.task(name="overridden")(body))["parameters"] == [
        {"name": "n", "has_default": False},
        {"name": "m", "has_default": True, "default_value": "2"},
    ]


def test_a_callable_without_a_signature_fails_when_decorated() -> None:
    with pytest.raises(TypeError, match=r"task 'builtin' \(.*\) has no inspectable signature"):
        app.task(name="builtin")(iter)
