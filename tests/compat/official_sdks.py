"""The official Render SDK releases, each in a throwaway virtual environment built once per machine.

``install`` puts one release (``RELEASES``: ``render_sdk==0.3.0`` and ``render==1.5.0``) from PyPI into
``$RENDER_SDK_COMPAT_CACHE`` (default ``~/.cache/render_sdk-compat``), one directory per release and base
Python, and reuses a directory on later runs when its release still imports. A file lock per release lets
concurrent test runs share the cache; a half-built directory is removed and built again.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

COMPAT = Path(__file__).resolve().parent
INSTALL_TIMEOUT = 600.0


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


def cache_root() -> Path:
    configured = os.environ.get("RENDER_SDK_COMPAT_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "render_sdk-compat"


def _works(python: Path, distribution: str, version: str) -> bool:
    """Whether ``python`` exists and has exactly ``distribution==version`` importable."""
    if not python.exists():
        return False
    check = (
        "import importlib, importlib.metadata, sys; "
        f"importlib.import_module({distribution!r}); "
        f"sys.exit(importlib.metadata.version({distribution!r}) != {version!r})"
    )
    # cwd: with ``-c`` the current directory comes first on sys.path, and this repository's is ours.
    result = subprocess.run(
        [str(python), "-E", "-c", check], cwd=python.parent, capture_output=True, timeout=60, check=False
    )
    return result.returncode == 0


def install(distribution: str, version: str, root: Path) -> OfficialSdk:
    """Build (or reuse) the environment for one release; raise with pip's output if installing fails."""
    tag = f"py{sys.version_info.major}.{sys.version_info.minor}"
    target = root / f"{distribution}-{version}-{tag}"
    python = target / "bin" / "python"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _works(python, distribution, version):
            return OfficialSdk(distribution, version, python)
        shutil.rmtree(target, ignore_errors=True)
        for command in (
            [sys.executable, "-m", "venv", str(target)],
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                f"{distribution}=={version}",
            ],
        ):
            result = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
            if result.returncode != 0:
                shutil.rmtree(target, ignore_errors=True)
                raise RuntimeError(f"`{' '.join(command)}` failed:\n{result.stdout}\n{result.stderr}")
        if not _works(python, distribution, version):
            raise RuntimeError(f"{distribution}=={version} installed into {target} but does not import")
        return OfficialSdk(distribution, version, python)
