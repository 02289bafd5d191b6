"""The worker's callback bodies and answer readers against the models generated from the callback API spec."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from render_sdk_callback_api.models import (
    CallbackRequest,
    RunSubtaskRequest,
    RunSubtaskResponse,
    SubtaskResultRequest,
    SubtaskResultResponse,
    TaskInput,
)

from render_sdk._protocol.payload import WireError, decode_payload
from render_sdk._protocol.wire import from_wire, to_wire
from render_sdk.client.errors import RenderError, TaskRunError
from render_sdk.workflows._callbacks import (
    completed,
    failed,
    read_input,
    read_subtask_result,
    read_subtask_run_id,
    subtask_request,
    subtask_result_request,
)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=3)
    | st.floats(0, 1)
    | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=2) | st.dictionaries(st.text(max_size=3), children, max_size=2)
    ),
    max_leaves=4,
)


def answers(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """JSON objects whose fields are often well-typed and sometimes anything; sometimes not objects at all."""
    optional = {name: strategy | JSON for name, strategy in fields.items()}
    return st.fixed_dictionaries({}, optional=optional) | JSON


def outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except WireError as exc:
        return "wire error", str(exc)


def test_bodies_are_what_the_spec_describes() -> None:
    try:
        raise KeyError("x")
    except KeyError as exc:
        error = failed("lookup", exc)
    bodies = [
        (CallbackRequest, completed({"a": [1, 2.5, None]})),
        (CallbackRequest, error),
        (RunSubtaskRequest, subtask_request("square", [3])),
        (RunSubtaskRequest, subtask_request("greet", {"name": "Ada"})),
        (SubtaskResultRequest, subtask_result_request("trn-1")),
    ]
    for model, body in bodies:
        assert to_wire(from_wire(model, body)) == body  # every field known to the spec, no nulls
    assert decode_payload(bodies[0][1]["complete"]["output"]) == [{"a": [1, 2.5, None]}]
    assert error["error"]["details"] == "KeyError: 'x'"


def test_a_subtask_request_is_new_for_every_call() -> None:
    first, second = subtask_request("square", [3]), subtask_request("square", [3])
    assert first["idempotency_key"] != second["idempotency_key"]
    assert first["created_at"].endswith("+00:00")


@given(
    answers(
        task_name=st.text(max_size=3),
        input=st.sampled_from(["", "WzNd"]),
        task_run_id=st.text(max_size=3),
        root_task_run_id=st.text(max_size=3),
        parent_task_run_id=st.text(max_size=3),
        attempt=st.integers(min_value=-1, max_value=2),
    )
)
def test_input_answers_are_read_as_the_model_reads_them(answer: Any) -> None:
    path = "GET /input answer"
    expected = outcome(lambda: from_wire(TaskInput, answer, path))
    got = outcome(lambda: read_input(answer))
    if expected[0] == "wire error":
        assert got == expected
        return
    model: TaskInput = expected[1]
    if model.attempt is not None and model.attempt < 0:
        assert got == ("wire error", f"{path}.attempt must be an int >= 0, got {model.attempt}")
        return
    task_name, payload, metadata = got[1]
    assert (task_name, payload, metadata.task_name, metadata.attempt) == (
        model.task_name,
        model.input,
        model.task_name,
        model.attempt,
    )
    ids = (model.task_run_id, model.root_task_run_id, model.parent_task_run_id)
    assert metadata[:3] == tuple(value or None for value in ids)


@given(answers(task_run_id=st.text(max_size=3)))
def test_run_subtask_answers_are_read_as_the_model_reads_them(answer: Any) -> None:
    expected = outcome(lambda: from_wire(RunSubtaskResponse, answer, "POST /run-subtask answer").task_run_id)
    assert outcome(lambda: read_subtask_run_id(answer)) == expected


ERRORS = st.fixed_dictionaries(
    {}, optional={"details": st.text(max_size=3) | JSON, "stack_trace": st.text(max_size=3) | JSON}
)


@given(
    answers(
        still_running=st.booleans(),
        complete=st.fixed_dictionaries({}, optional={"output": st.sampled_from(["", "WzFd", "W10="])}) | JSON,
        error=ERRORS | JSON,
    )
)
def test_subtask_result_answers_are_read_as_the_model_reads_them(answer: Any) -> None:
    expected = outcome(lambda: from_wire(SubtaskResultResponse, answer, "POST /get-subtask-result answer"))
    try:
        got = outcome(lambda: read_subtask_result(answer, "square", "trn-1"))
    except TaskRunError as exc:
        model = expected[1]
        assert model.error is not None
        assert (exc.error, exc.body) == (model.error.details, to_wire(model.error))
        return
    except RenderError:  # neither running, complete nor failed; or an output that is no one-element array
        model = expected[1]
        assert model.error is None
        assert model.complete is not None or not model.still_running
        return
    if expected[0] == "wire error":
        assert got == expected
        return
    model = expected[1]
    assert model.error is None
    if model.complete is None:
        assert got == ("ok", (False, None))
    else:
        assert got == ("ok", (True, None if not model.complete.output else 1))


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([], "GET /input answer must be a JSON object, got list"),
        ({"input": ""}, "GET /input answer.task_name is required"),
        ({"task_name": "square", "input": None}, "GET /input answer.input is required"),
    ],
)
def test_input_answer_errors_name_the_field(answer: Any, message: str) -> None:
    with pytest.raises(WireError, match=message):
        read_input(answer)
