"""The CLI tests: the real ``render-workflows`` console script against a real ``render-workflows dev``.

One server of ``workers/main.py`` (in memory) serves every test of a module: the tests look only at the runs
they start, and a server start costs a second or two of both cores.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LocalRuntimeProcess, _subprocess_env, launch

WORKERS = Path(__file__).resolve().parent / "workers"
#: The console script installed with the package, beside the interpreter running the tests.
CONSOLE_SCRIPT = Path(sys.executable).with_name("render-workflows")


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a command under test: no RENDER_* variable unless given."""
    return {**_subprocess_env(), **extra}


def cli(
    *args: str, cwd: Path = WORKERS, timeout: float = 60.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``render-workflows ARGS...`` to its end."""
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        cwd=cwd,
        env=env or cli_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextlib.contextmanager
def spawn_cli(*args: str) -> Iterator[subprocess.Popen[str]]:
    """``render-workflows ARGS...`` running while the block runs; killed after it if still running."""
    with subprocess.Popen(
        [str(CONSOLE_SCRIPT), *args],
        cwd=WORKERS,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()


def cli_json(*args: str, expect: int = 0) -> Any:
    """Run ``render-workflows ARGS... --json``, check its exit status and parse what it printed."""
    result = cli(*args, "--json")
    assert result.returncode == expect, result.stderr
    return json.loads(result.stdout)


def start_dev(command: Sequence[str], cwd: Path) -> LocalRuntimeProcess:
    """``render-workflows dev ...`` (the console script) started in ``cwd``, once it is ready."""
    return launch([str(CONSOLE_SCRIPT), *command], cwd, cli_env())


@pytest.fixture(scope="module")
def server() -> Iterator[LocalRuntimeProcess]:
    """The CLI tests' worker served from memory on an ephemeral port, shared by the module's tests."""
    assert CONSOLE_SCRIPT.is_file(), (
        f"no console script at {CONSOLE_SCRIPT}: install the package (pip install -e .)"
    )
    process = start_dev(["dev", "--port", "0", "--in-memory", "--", sys.executable, "main.py"], WORKERS)
    try:
        yield process
    finally:
        process.stop()
