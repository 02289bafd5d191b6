"""Bad input fails with a clear error before any request is sent."""

from __future__ import annotations

import datetime
from typing import Any

import httpx
import pytest

from render_sdk.client import ListTaskRunsParams, ListTasksParams
from tests.client.conftest import Flavor


def refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected, got {request.method} {request.url}")


@pytest.mark.parametrize(
    ("input_data", "error", "message"),
    [
        ("5", TypeError, "input_data must be a list or tuple .* got str"),
        (5, TypeError, "got int"),
        (None, TypeError, "got NoneType"),
        ({1, 2}, TypeError, "got set"),
        ([1, {"when": datetime.date(2026, 1, 1)}], ValueError, r'input_data\[1\]\["when"\] is of type date'),
        ([float("nan")], ValueError, r"input_data\[0\] is nan"),
        ({"x": [float("inf")]}, ValueError, r'input_data\["x"\]\[0\] is inf'),
        ({1: "a"}, ValueError, "key 1 of type int"),
        ([object()], ValueError, "not JSON-serializable"),
    ],
)
def test_bad_input_data(flavor: Flavor, input_data: Any, error: type[Exception], message: str) -> None:
    render = flavor.client(refuse)
    with pytest.raises(error, match=message):
        flavor.run(render.workflows.run_task("wf/task", input_data))


@pytest.mark.parametrize(
    ("identifier", "error", "message"),
    [
        ("", ValueError, "must not be empty"),
        ("   ", ValueError, "must not be empty"),
        ("square", ValueError, "malformed"),
        ("wf/", ValueError, "malformed"),
        ("/square", ValueError, "malformed"),
        ("wf/square/extra", ValueError, "malformed"),
        ("wf/sq uare", ValueError, "malformed"),
        ("wf/square:", ValueError, "malformed"),
        (None, TypeError, "got NoneType"),
        (42, TypeError, "got int"),
    ],
)
def test_bad_task_identifier(flavor: Flavor, identifier: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        flavor.run(flavor.client(refuse).workflows.run_task(identifier, [1]))


@pytest.mark.parametrize("identifier", ["my-workflow/square", "wf/calculate_square:3", "tsk-abc123"])
def test_good_task_identifiers_pass(flavor: Flavor, identifier: str) -> None:
    from render_sdk.client._operations import check_task_identifier

    assert check_task_identifier(identifier) == identifier


@pytest.mark.parametrize(
    ("run_id", "error"),
    [
        ("", ValueError),
        ("trn-1/../x", ValueError),
        ("trn 1", ValueError),
        ("trn-1?a=b", ValueError),
        (7, TypeError),
    ],
)
def test_bad_run_ids(flavor: Flavor, run_id: Any, error: type[Exception]) -> None:
    render = flavor.client(refuse)
    for call in (
        render.workflows.get_task_run,
        render.workflows.cancel_task_run,
        render.workflows.wait_for_task_run,
    ):
        with pytest.raises(error, match="task_run_id"):
            flavor.run(call(run_id))
    with pytest.raises(error, match="task_id"):
        flavor.run(render.workflows.get_task(run_id))


@pytest.mark.parametrize("limit", [0, 101, -1, 1.5, True, "10"])
def test_limit_outside_1_to_100(limit: Any) -> None:
    with pytest.raises(ValueError, match="limit must be an int from 1 to 100"):
        ListTaskRunsParams(limit=limit)
    with pytest.raises(ValueError, match="limit"):
        ListTasksParams(limit=limit)


def test_filters_must_be_lists_of_strings() -> None:
    with pytest.raises(TypeError, match="owners must be a list of strings, not a single str"):
        ListTaskRunsParams(owners="tea-1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"task_slugs\[1\] must be a non-empty string"):
        ListTaskRunsParams(task_slugs=["wf/a", ""])
    with pytest.raises(ValueError, match="cursor"):
        ListTaskRunsParams(cursor="")
    assert ListTaskRunsParams(owners=("tea-1",)).owners == ["tea-1"]


def test_params_must_be_the_params_class(flavor: Flavor) -> None:
    with pytest.raises(TypeError, match="ListTaskRunsParams"):
        flavor.run(flavor.client(refuse).workflows.list_task_runs({"limit": 5}))


@pytest.mark.parametrize("timeout", [0, -1, "5", True])
def test_bad_wait_timeout(flavor: Flavor, timeout: Any) -> None:
    with pytest.raises(ValueError, match="timeout"):
        flavor.run(flavor.client(refuse).workflows.wait_for_task_run("trn-1", timeout=timeout))


@pytest.mark.parametrize(
    ("ids", "error"), [("trn-1", TypeError), ([], ValueError), (["trn-1", ""], ValueError)]
)
def test_bad_event_run_ids(flavor: Flavor, ids: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="task_run_ids"):
        flavor.collect(flavor.client(refuse).workflows.task_run_events(ids))
