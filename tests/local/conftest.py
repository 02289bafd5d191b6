"""Fixtures of the local runtime's tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.conftest import EXAMPLE_WORKFLOWS, LocalRuntimeProcess, _start


@pytest.fixture(scope="session")
def local_runtime() -> Iterator[LocalRuntimeProcess]:
    """One server of the example workflow (in memory) for every test that needs nothing else.

    Those tests look only at the runs they start, so they can share it: a server start costs a second or two
    of both cores. Tests that need their own worker, store or options use ``start_local_runtime``.
    """
    server = _start([sys.executable, "main.py"], EXAMPLE_WORKFLOWS, None, (), None)
    try:
        yield server
    finally:
        server.stop()
