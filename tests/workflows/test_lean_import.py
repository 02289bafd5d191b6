"""A worker's import graph stays free of the REST client stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .callback_runtime import worker_env

REST_STACK = ("httpx", "httpcore", "httpx_sse", "anyio", "attrs", "dateutil", "render_sdk_public_api")


def imported_after(statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], env=worker_env(), capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize(
    "statement",
    [
        "import render_sdk",
        "from render_sdk import Workflows, Retry, TaskInstance",
        "import render_sdk.workflows._runtime",  # Everything a serving worker loads.
        "import render_sdk.testing",
        "import render_sdk.workflows.cli",
    ],
)
def test_no_rest_client_modules(statement: str) -> None:
    modules = imported_after(statement)
    assert sorted(name for name in modules if name.split(".")[0] in REST_STACK) == []


def test_defining_tasks_does_not_load_the_transport() -> None:
    modules = imported_after("import render_sdk")
    assert "h11" not in modules
    assert "render_sdk.workflows._transport" not in modules
