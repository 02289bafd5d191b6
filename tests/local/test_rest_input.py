"""``POST /v1/task-runs`` and the other routes with hostile input, in-process (``httpx.ASGITransport``)
through the same guard and app the server runs: every bad body gets a 4xx naming the problem, never a 500,
and creates nothing. Properties (hypothesis): any JSON body gives 202 or a 4xx with a message, and a 202
stores exactly the input sent.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from render_sdk.local.api.guard import RequestGuard
from render_sdk.local.limits import REST_BODY_BYTES
from tests.local.inprocess import local_api, request

PROPERTY = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def post_body(app: RequestGuard, body: bytes) -> httpx.Response:
    return request(app, "POST", "/v1/task-runs", content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"task": "wf/pair", "input": [NaN]}', "NaN is not a JSON value at line 1 column 31"),
        (b'{"task": "wf/pair", "input": [Infinity]}', "Infinity is not a JSON value"),
        (b'{"task": "wf/pair", "input": [-Infinity]}', "-Infinity is not a JSON value"),
        (b'{"task": "wf/pair", "input": [1e400]}', "number 1e400 is too large for a 64-bit float"),
        (b'{"task": "wf/pair", "input": [' + b"7" * 5000 + b"]}", "integer of 5000 digits"),
        (b'{"task": "wf/pair", "input": ["\\ud800"]}', "lone surrogate \\ud800 is not Unicode"),
        (b'{"task": "wf/pair", "input": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nesting is deeper than 256"),
        (b'{"task": "wf/pair", "input": ["\xff"]}', "byte 31 is not valid UTF-8"),
    ],
)
def test_bad_json_is_a_400_naming_the_problem(body: bytes, problem: str) -> None:
    app, store = local_api()
    response = post_body(app, body)
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith("request body is not valid JSON: ")
    assert problem in response.json()["message"]
    assert store.list_runs(after_id=None, limit=10) == []


def test_results_with_nan_cannot_be_encoded_anywhere_on_the_wire() -> None:
    from render_sdk.local.api.errors import StrictJSONResponse

    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        StrictJSONResponse({"x": float("nan")})


def test_oversize_body_is_413() -> None:
    app, store = local_api()
    body = b'{"task": "wf/pair", "input": ["' + b"x" * REST_BODY_BYTES + b'"]}'
    response = post_body(app, body)
    assert response.status_code == 413
    assert f"limit of {REST_BODY_BYTES} bytes" in response.json()["message"]
    assert store.list_runs(after_id=None, limit=10) == []


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)
BODIES = (
    JSON_VALUES
    | st.fixed_dictionaries({"task": st.sampled_from(["wf/pair", "pair", "tsk-1", "nope", ""]) | JSON_VALUES})
    | st.fixed_dictionaries(
        {"task": st.sampled_from(["wf/pair", "pair", "tsk-1"]), "input": JSON_VALUES},
        optional={"extra": JSON_VALUES},
    )
)


@PROPERTY
@given(BODIES)
def test_any_json_body_is_202_or_a_4xx_with_a_message(body: Any) -> None:
    app, store = local_api()
    response = post_body(app, json.dumps(body).encode())
    assert response.status_code in (202, 400, 404), response.text
    if response.status_code != 202:
        assert response.json()["message"] and not store.list_runs(after_id=None, limit=10)
        return
    run = store.get_run(response.json()["id"])
    assert run is not None and run.input == body["input"]
    assert isinstance(body["input"], (list, dict))


@PROPERTY
@given(st.binary(max_size=200))
def test_any_bytes_are_answered_without_a_500(body: bytes) -> None:
    app, _ = local_api()
    response = post_body(app, body)
    assert response.status_code in (202, 400, 404), response.text
    assert "message" in response.json() or response.status_code == 202


@PROPERTY
@given(
    st.text(max_size=12), st.sampled_from(["/v1/task-runs", "/v1/tasks", "/v1/workflowversions", "/v1/logs"])
)
def test_any_limit_or_cursor_is_answered_without_a_500(value: str, path: str) -> None:
    app, _ = local_api()
    for name in ("limit", "cursor", "startTime"):
        response = request(app, "GET", path, params={name: value})
        assert response.status_code in (200, 400, 404), (name, value, response.text)


def test_405_allows_every_method_of_the_path() -> None:
    app, _ = local_api()
    response = request(app, "PUT", "/v1/task-runs/trn-x")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "DELETE"}


def test_a_limit_past_the_maximum_gets_the_largest_page() -> None:
    app, _ = local_api()
    assert request(app, "GET", "/v1/task-runs", params={"limit": "101"}).status_code == 200
    assert request(app, "GET", "/v1/tasks", params={"limit": "100000"}).json()[0]["task"]["name"] == "pair"
    assert request(app, "GET", "/v1/task-runs", params={"limit": "0"}).status_code == 400


def test_workflow_versions_carry_every_field_the_spec_requires() -> None:
    app, _ = local_api()
    (item,) = request(app, "GET", "/v1/workflowversions").json()
    required = {"id", "workflowId", "name", "image", "createdAt", "updatedAt", "status"}
    assert required <= set(item["workflowVersion"]), item
    assert request(app, "GET", "/v1/workflowversions/wfv-1").json().keys() >= required
