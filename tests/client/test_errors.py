"""Error mapping: every non-2xx answer becomes the right exception, whatever its body."""

from __future__ import annotations

import pickle
import subprocess
import sys

import httpx
import pytest

from render_sdk.client import errors
from tests.client.conftest import Flavor


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (409, errors.ConflictError),
        (418, errors.ClientError),
        (422, errors.UnprocessableEntityError),
        (429, errors.RateLimitError),
        (500, errors.ServerError),
        (502, errors.ServerError),
        (520, errors.ServerError),
    ],
)
def test_status_maps_to_error_with_json_body(
    flavor: Flavor, status: int, cls: type[errors.RenderError]
) -> None:
    body = {"id": "err-123", "message": "task not found"}
    render = flavor.client(lambda request: httpx.Response(status, json=body), max_retries=0)
    with pytest.raises(cls) as caught:
        flavor.run(render.workflows.get_task_run("trn-1"))
    error = caught.value
    assert type(error) is cls
    assert error.status_code == status
    assert error.error_id == "err-123"
    assert error.body == body
    assert "task not found" in str(error) and "err-123" in str(error) and str(status) in str(error)
    assert "get task run trn-1" in error.message


@pytest.mark.parametrize(
    ("status", "cls"),
    [(401, errors.AuthenticationError), (404, errors.NotFoundError), (503, errors.ServerError)],
)
def test_non_json_body_still_maps_by_status(
    flavor: Flavor, status: int, cls: type[errors.RenderError]
) -> None:
    render = flavor.client(
        lambda request: httpx.Response(status, text="<html>Bad Gateway from proxy</html>"), max_retries=0
    )
    with pytest.raises(cls) as caught:
        flavor.run(render.workflows.cancel_task_run("trn-1"))
    assert caught.value.status_code == status
    assert caught.value.error_id is None
    assert caught.value.body == "<html>Bad Gateway from proxy</html>"
    assert "Bad Gateway from proxy" in str(caught.value)


def test_empty_error_body_uses_reason_phrase(flavor: Flavor) -> None:
    render = flavor.client(lambda request: httpx.Response(403), max_retries=0)
    with pytest.raises(errors.PermissionDeniedError, match="Forbidden"):
        flavor.run(render.workflows.get_task_run("trn-1"))


def test_rate_limit_error_carries_retry_after(flavor: Flavor) -> None:
    render = flavor.client(
        lambda request: httpx.Response(429, headers={"Retry-After": "120"}, json={"message": "slow down"}),
    )
    with pytest.raises(errors.RateLimitError) as caught:
        flavor.run(render.workflows.get_task_run("trn-1"))
    # 120 s is longer than the client waits out by itself: the caller gets the hint.
    assert caught.value.retry_after == 120.0
    assert isinstance(caught.value, errors.ClientError)


def test_connection_failure_is_server_error(flavor: Flavor, sleeps: list[float]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    render = flavor.client(handler, max_retries=1)
    with pytest.raises(errors.ServerError, match="could not reach") as caught:
        flavor.run(render.workflows.get_task_run("trn-1"))
    assert caught.value.status_code is None
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_timeout_is_both_render_and_builtin_timeout(flavor: Flavor, sleeps: list[float]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    render = flavor.client(handler, max_retries=0)
    with pytest.raises(TimeoutError) as caught:
        flavor.run(render.workflows.get_task_run("trn-1"))
    assert isinstance(caught.value, errors.TimeoutError)
    assert isinstance(caught.value, errors.RenderError)


def test_malformed_success_body_is_a_render_error(flavor: Flavor) -> None:
    render = flavor.client(lambda request: httpx.Response(200, json={"id": "trn-1"}))
    with pytest.raises(errors.RenderError, match=r"taskId is missing"):
        flavor.run(render.workflows.get_task_run("trn-1"))
    render = flavor.client(lambda request: httpx.Response(200, text="not json"))
    with pytest.raises(errors.RenderError, match="non-JSON"):
        flavor.run(render.workflows.get_task_run("trn-1"))


def test_errors_pickle_with_their_fields() -> None:
    error = errors.RateLimitError("slow", status_code=429, error_id="e1", body={"a": 1}, retry_after=3.0)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is errors.RateLimitError
    assert (copy.message, copy.status_code, copy.error_id, copy.body, copy.retry_after) == (
        "slow",
        429,
        "e1",
        {"a": 1},
        3.0,
    )
    run_error = pickle.loads(pickle.dumps(errors.TaskRunCanceledError("canceled", None, "why")))
    assert type(run_error) is errors.TaskRunCanceledError and run_error.error == "why"


def test_task_run_error_from_a_message_alone() -> None:
    error = errors.TaskRunError("Subtask 'square' failed: ValueError: boom")
    assert str(error) == "Subtask 'square' failed: ValueError: boom"
    assert error.details is None and error.error is None and error.task_run_id is None
    assert issubclass(errors.TaskRunCanceledError, errors.TaskRunError)


def test_errors_module_docstring_draws_every_class() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert name in doc, name
        assert getattr(errors, name).__doc__


def test_errors_module_imports_no_http_stack() -> None:
    code = (
        "import sys, render_sdk.client.errors, render_sdk.client\n"
        "loaded = [m for m in ('httpx', 'attrs', 'httpx_sse', 'render_sdk_public_api') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
