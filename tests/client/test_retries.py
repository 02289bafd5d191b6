"""Retries: reads and cancels retry transient failures; starting a run never risks a duplicate."""

from __future__ import annotations

import email.utils
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
    from render_sdk.client import _transport

    delays = [_transport.backoff(attempt) for attempt in range(12)]
    assert all(0 < delay <= _transport.MAX_DELAY for delay in delays)
    assert delays[-1] >= 0.75 * _transport.MAX_DELAY


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


# ---- run_task: never create a duplicate run ------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError, httpx.ConnectTimeout, httpx.Response(429), httpx.Response(503)],
)
def test_run_task_retries_when_nothing_was_created(
    flavor: Flavor, sleeps: list[float], failure: object
) -> None:
    seen, handler = sequence(failure, httpx.Response(202, json=task_run()))  # type: ignore[arg-type]
    started = flavor.run(flavor.client(handler).workflows.run_task("wf/t", [1]))
    assert started.id == "trn-1" and len(seen) == 2


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.ReadTimeout, errors.TimeoutError),
        (httpx.ReadError, errors.ServerError),
        (httpx.RemoteProtocolError, errors.ServerError),
        (httpx.Response(500), errors.ServerError),
        (httpx.Response(502), errors.ServerError),
        (httpx.Response(504), errors.ServerError),
        (httpx.Response(408), errors.ClientError),
    ],
)
def test_run_task_does_not_retry_when_a_run_may_exist(
    flavor: Flavor, sleeps: list[float], failure: object, error: type[errors.RenderError]
) -> None:
    seen, handler = sequence(failure, httpx.Response(202, json=task_run()))  # type: ignore[arg-type]
    with pytest.raises(error):
        flavor.run(flavor.client(handler).workflows.run_task("wf/t", [1]))
    assert len(seen) == 1 and sleeps == []


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
