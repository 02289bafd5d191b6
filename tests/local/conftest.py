"""Fixtures of the local runtime's tests: servers shared by the tests that can share one.

A server start costs a second or two of both cores (uvicorn, starlette and the REST models load, the worker
registers). Tests that look only at the runs they start, and need no particular store or state of the server,
share one server per (worker, directory, options) for the whole session. Tests that need their own worker,
store, options or a fresh server use ``start_local_runtime``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_WORKFLOWS, LocalRuntimeProcess, _start

from .processes import HTTP

SharedRuntime = Callable[..., LocalRuntimeProcess]


@pytest.fixture(scope="session", autouse=True)
def _close_http_client() -> Iterator[None]:
    yield
    HTTP.close()


@pytest.fixture(scope="session")
def shared_runtime() -> Iterator[SharedRuntime]:
    """``shared_runtime(worker_argv, cwd=..., args=())``: the session's server for those, started once."""
    servers: dict[tuple[tuple[str, ...], Path, tuple[str, ...]], LocalRuntimeProcess] = {}

    def get(
        worker: Sequence[str] | None = None, cwd: Path = EXAMPLE_WORKFLOWS, args: Sequence[str] = ()
    ) -> LocalRuntimeProcess:
        key = (tuple(worker or [sys.executable, "main.py"]), cwd, tuple(args))
        server = servers.get(key)
        if server is None or server.process.poll() is not None:
            server = servers[key] = _start(key[0], cwd, None, key[2], None)
        return server

    try:
        yield get
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
def local_runtime(shared_runtime: SharedRuntime) -> LocalRuntimeProcess:
    """The example workflow (``examples/workflows``) served from memory: the session's shared server."""
    return shared_runtime()
