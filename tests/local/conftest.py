"""Fixtures of the local runtime's tests: the example workflow's server is the session's shared one
(``shared_runtime`` in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import LocalRuntimeProcess, SharedRuntime

from .processes import HTTP


@pytest.fixture(scope="session", autouse=True)
def _close_http_client() -> Iterator[None]:
    yield
    HTTP.close()


@pytest.fixture
def local_runtime(shared_runtime: SharedRuntime) -> LocalRuntimeProcess:
    """The example workflow (``examples/workflows``) served from memory: the session's shared server."""
    return shared_runtime()
