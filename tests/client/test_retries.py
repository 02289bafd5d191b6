"""Retries: every request retries transient failures; starting a run re-sends its idempotency key."""

from __future__ import annotations

import email.utils
import json
import time

import httpx
import pytest

from render_sdk.client import errors
from tests.client.conftest import Flavor, details, task_run


def sequence(*answers: httpx.Response | type[httpx.TransportError]) -> tuple[list[httpx.Request], object]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, type):
            raise answer("simulated", request=request)
        # A fresh copy: parametrized responses are shared by the async and sync runs.
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    return seen, handler


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500, json={"message": "oops"}),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(503),
        httpx.Response(504),
        httpx.Response(408),
        httpx.Response(429),
        httpx.ConnectError,
        httpx.ReadError,
        httpx.RemoteProtocolError,
        httpx.ReadTimeout,
    ],
)
def test_reads_retry_transient_failures(flavor: Flavor, sleeps: list[float], failure: object) -> None:
    seen, handler = sequence(failure, failure, httpx.Response(200, json=details()))  # type: ignore[arg-type]
    run = flavor.run(flavor.client(handler).workflows.get_task_run("trn-1"))
    assert run.id == "trn-1" and len(seen) == 3 and len(sleeps) == 2


def test_cancel_retries_too(flavor: Flavor, sleeps: list[float]) -> None:
    seen, handler = sequence(httpx.Response(503), httpx.Response(204))
    flavor.run(flavor.client(handler).workflows.cancel_task_run("trn-1"))
    assert [r.method for r in seen] == ["DELETE", "DELETE"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_not_retried(flavor: Flavor, sleeps: list[float], status: int) -> None:
    seen, handler = sequence(httpx.Response(status), httpx.Response(200, json=details()))
    with pytest.raises(errors.ClientError):
        flavor.run(flavor.client(handler).workflows.get_task_run("trn-1"))
    assert len(seen) == 1 and sleeps == []


def test_gives_up_after_max_retries(flavor: Flavor, sleeps: list[float]) -> None:
    seen, handler = sequence(httpx.Response(500))
    with pytest.raises(errors.ServerError):
        flavor.run(flavor.client(handler, max_retries=2).workflows.get_task_run("trn-1"))
    assert len(seen) == 3


def test_max_retries_zero_disables_retries(flavor: Flavor, sleeps: list[float]) -> None:
    seen, handler = sequence(httpx.Response(503))
    with pytest.raises(errors.ServerError):
        flavor.run(flavor.client(handler, max_retries=0).workflows.get_task_run("trn-1"))
    assert len(seen) == 1


def test_backoff_grows_exponentially_with_a_cap(flavor: Flavor, sleeps: list[float]) -> None:
    from render_sdk.client import _request_core

    delays = [_request_core.backoff(attempt) for attempt in range(12)]
    assert all(0 < delay <= _request_core.MAX_DELAY for delay in delays)
    assert delays[-1] >= 0.75 * _request_core.MAX_DELAY
    assert _request_core.backoff(10_000) <= _request_core.MAX_DELAY  # no overflow after a long outage


def test_retry_after_seconds_is_honoured(flavor: Flavor, sleeps: list[float]) -> None:
    _, handler = sequence(
        httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json=details())
    )
    flavor.run(flavor.client(handler).workflows.get_task_run("trn-1"))
    assert sleeps == [7.0]


def test_retry_after_http_date_is_honoured(flavor: Flavor, sleeps: list[float]) -> None:
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    _, handler = sequence(
        httpx.Response(503, headers={"Retry-After": when}), httpx.Response(200, json=details())
    )
    flavor.run(flavor.client(handler).workflows.get_task_run("trn-1"))
    assert len(sleeps) == 1 and 3 < sleeps[0] <= 5


# ---- run_task: retried like any request, never creating a second run -----------------------------------


def sent_key(request: httpx.Request) -> str:
    key: str = json.loads(request.content)["idempotencyKey"]
    return key


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.ReadTimeout,
        httpx.ReadError,
        httpx.RemoteProtocolError,
        httpx.Response(429),
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(503),
        httpx.Response(504),
        httpx.Response(408),
    ],
)
def test_run_task_retries_every_transient_failure_with_the_same_key(
    flavor: Flavor, sleeps: list[float], failure: object
) -> None:
    seen, handler = sequence(failure, failure, httpx.Response(202, json=task_run()))  # type: ignore[arg-type]
    started = flavor.run(flavor.client(handler).workflows.run_task("wf/t", [1]))
    assert started.id == "trn-1" and len(seen) == 3 and len(sleeps) == 2
    keys = {sent_key(request) for request in seen}
    assert len(keys) == 1 and len(keys.pop()) >= 16


def test_each_run_task_call_makes_its_own_key(flavor: Flavor) -> None:
    seen, handler = sequence(httpx.Response(202, json=task_run()))
    workflows = flavor.client(handler).workflows
    flavor.run(workflows.run_task("wf/t", [1]))
    flavor.run(workflows.start_task("wf/t", [1]))
    assert sent_key(seen[0]) != sent_key(seen[1])


def test_a_given_idempotency_key_is_sent_as_it_is(flavor: Flavor) -> None:
    seen, handler = sequence(httpx.Response(202, json=task_run()))
    workflows = flavor.client(handler).workflows
    flavor.run(workflows.run_task("wf/t", [1], idempotency_key="order-42"))
    flavor.run(workflows.start_task("wf/t", {"a": 1}, idempotency_key="k" * 255))
    assert [sent_key(request) for request in seen] == ["order-42", "k" * 255]
    assert json.loads(seen[1].content) == {"task": "wf/t", "input": {"a": 1}, "idempotencyKey": "k" * 255}


@pytest.mark.parametrize(("key", "error"), [("", ValueError), ("k" * 256, ValueError), (42, TypeError)])
def test_a_malformed_idempotency_key_is_refused_before_any_request(
    flavor: Flavor, key: object, error: type[Exception]
) -> None:
    seen, handler = sequence(httpx.Response(202, json=task_run()))
    with pytest.raises(error, match="idempotency_key"):
        flavor.run(flavor.client(handler).workflows.run_task("wf/t", [1], idempotency_key=key))
    assert seen == []


def test_run_task_does_not_retry_a_definite_refusal(flavor: Flavor, sleeps: list[float]) -> None:
    seen, handler = sequence(httpx.Response(400, json={"message": "bad input", "code": "invalid_input"}))
    with pytest.raises(errors.BadRequestError) as raised:
        flavor.run(flavor.client(handler).workflows.run_task("wf/t", [1]))
    assert len(seen) == 1 and sleeps == [] and raised.value.code == "invalid_input"


def test_every_request_has_explicit_timeouts(flavor: Flavor) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=details())

    flavor.run(flavor.client(handler).workflows.get_task_run("trn-1"))
    timeouts = seen[0].extensions["timeout"]
    assert all(
        timeouts[name] is not None and timeouts[name] > 0 for name in ("connect", "read", "write", "pool")
    )
