"""Throwaway virtual environments of released packages, built once per machine and shared.

The benchmarks' references (``render==1.5.0``, ``render_sdk==0.3.0``) and their environment of our runtime
dependencies, and the compatibility tests' official SDKs, all come from here: one directory per name and
Python version under ``$RENDER_SDK_VENV_CACHE`` (default ``~/.cache/render_sdk-venvs``). An environment has no
pip of its own: the calling interpreter's pip installs into it with ``--python``, which saves the seconds
``ensurepip`` takes. A marker file records the requirements, so a changed pin rebuilds the environment; a file
lock per environment lets concurrent processes (pytest-xdist workers, a benchmark beside the tests) build it
once and share it. Standard library only: the benchmark scripts and the test suite both import it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["INSTALL_TIMEOUT", "InstallError", "cache_root", "ensure_venv", "isolated_env"]

INSTALL_TIMEOUT = 600.0
_PIP_QUIET = ("--quiet", "--disable-pip-version-check")

# Environment variables that would let one interpreter see another one's packages, or change how it starts.
# PYTHONDONTWRITEBYTECODE matters to the benchmarks: pip compiled the references' bytecode at install time, so
# ours must run from compiled bytecode too (``_harness.compile_ours``), as it would once installed.
_LEAKY_VARS = (
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
    "PYTHONSTARTUP",
    "PYTHONSAFEPATH",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONDEVMODE",
    "PYTHONWARNINGS",
    "PYTHONASYNCIODEBUG",
)


class InstallError(RuntimeError):
    """Building an environment failed; the message has pip's output."""


def cache_root() -> Path:
    configured = os.environ.get("RENDER_SDK_VENV_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "render_sdk-venvs"


def isolated_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a process that must see only its own interpreter's packages."""
    env = {key: value for key, value in os.environ.items() if key not in _LEAKY_VARS}
    env.pop("RENDER_SDK_MODE", None)
    env.pop("RENDER_SDK_SOCKET_PATH", None)
    env.update(extra or {})
    return env


def ensure_venv(name: str, requirements: Sequence[str]) -> Path:
    """The interpreter of environment ``name`` holding exactly ``requirements``, built first if need be.

    venv and pip run in :func:`isolated_env`, so the environment is the same whoever builds it first.

    Args:
        name: The environment's name, e.g. ``render-1.5.0``; the Python version is added to it.
        requirements: pip requirement specifiers.

    Raises:
        InstallError: venv or pip failed (the half-built directory is removed).
    """
    root = cache_root()
    venv = root / f"{name}-py{sys.version_info.major}.{sys.version_info.minor}"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    wanted = "\n".join([*requirements, sys.version]) + "\n"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and marker.exists() and marker.read_text() == wanted:
            return python
        shutil.rmtree(venv, ignore_errors=True)
        base_python = getattr(sys, "_base_executable", sys.executable)
        env = isolated_env()
        for command in (
            [base_python, "-m", "venv", "--without-pip", str(venv)],
            [sys.executable, "-m", "pip", "--python", str(python), "install", *_PIP_QUIET, *requirements],
        ):
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
            )
            if done.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                raise InstallError(f"`{' '.join(command)}` failed:\n{done.stdout}\n{done.stderr}")
        marker.write_text(wanted)
        return python
