"""Fixtures of the engine tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short private directory for attempt sockets (a Unix socket path must stay under 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="rse-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
