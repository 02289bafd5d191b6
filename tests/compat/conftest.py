"""Fixtures for the compatibility tests: the official SDK releases and a clean environment to run them in."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from .official_sdks import RELEASES, OfficialSdk, install


@pytest.fixture(scope="session")
def official_sdks() -> dict[str, OfficialSdk]:
    """``{"render_sdk": ..., "render": ...}``: both releases, installed in parallel on first use."""
    with ThreadPoolExecutor(len(RELEASES)) as pool:
        futures = [pool.submit(install, name, version) for name, version in RELEASES]
        try:
            sdks = [future.result() for future in futures]
        except RuntimeError as exc:
            pytest.fail(f"could not install the official SDKs from PyPI: {exc}")
    return {sdk.distribution: sdk for sdk in sdks}


@pytest.fixture
def official_env() -> dict[str, str]:
    """An environment for an official SDK's process: nothing of this repository's, no Render settings."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTHON", "RENDER_")) and name != "VIRTUAL_ENV"
    }
