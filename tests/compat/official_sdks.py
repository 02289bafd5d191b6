"""The official Render SDK releases, each in a throwaway virtual environment built once per machine.

``install`` puts one release (``RELEASES``: ``render_sdk==0.3.0`` and ``render==1.5.0``) from PyPI into its
own environment through ``benchmarks/_venvs.py``, which the benchmarks use for the same releases: one build
per machine serves both, and concurrent test processes share it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks._venvs import InstallError, ensure_venv

COMPAT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class OfficialSdk:
    """One official SDK release installed in its own virtual environment.

    Attributes:
        distribution: The PyPI name, e.g. ``render_sdk``.
        version: The pinned release, e.g. ``0.3.0``.
        python: The environment's interpreter.
    """

    distribution: str
    version: str
    python: Path

    def run(self, args: list[str], env: dict[str, str], timeout: float = 90.0) -> str:
        """Run ``python -E args...`` in the environment and return stdout; fail the test on a non-zero exit.

        ``-E`` keeps ``PYTHONPATH`` (which points at this repository in tests) from shadowing the official
        package with ours.
        """
        result = subprocess.run(
            [str(self.python), "-E", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"{self.distribution}=={self.version}: `{' '.join(args)}` exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result.stdout


RELEASES = (("render_sdk", "0.3.0"), ("render", "1.5.0"))


def install(distribution: str, version: str) -> OfficialSdk:
    """Build (or reuse) the environment for one release; raise with pip's output if installing fails."""
    try:
        python = ensure_venv(f"{distribution}-{version}", [f"{distribution}=={version}"])
    except InstallError as exc:
        raise RuntimeError(str(exc)) from exc
    return OfficialSdk(distribution, version, python)
