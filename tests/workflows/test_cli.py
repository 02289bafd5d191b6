"""The render-workflows command and auto-start, as real processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from render_sdk import __version__

from .callback_runtime import WORKERS, Attempt, CallbackRuntime, worker_env


def cli(*args: str, cwd: Path = WORKERS, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "render_sdk", *args],
        cwd=cwd,
        env=worker_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_every_command() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for command in (
        "render-workflows MODULE:APP",
        "render-workflows dev",
        "render-workflows logs",
        "--version",
    ):
        assert command in result.stdout


def test_version() -> None:
    result = cli("--version")
    assert (result.returncode, result.stdout) == (0, f"render-workflows {__version__}\n")


# The local runtime's commands take the arguments after their name (helper C's `dev(argv)` / `logs(argv)`).
@pytest.mark.parametrize("command", ["dev", "logs"])
def test_local_commands_are_dispatched_with_their_arguments(command: str) -> None:
    result = cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: render-workflows {command}")


def test_no_arguments_prints_usage_and_fails() -> None:
    result = cli()
    assert result.returncode == 2
    assert result.stderr.startswith("usage: render-workflows MODULE:APP")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing_module:app", "no module named 'missing_module' (looked in the current directory"),
        ("worker_app:nope", "module 'worker_app' has no attribute 'nope'"),
        ("worker_app:LEAN_CHECKED", "worker_app:LEAN_CHECKED is a tuple, not a render_sdk.Workflows app"),
        ("worker_app", "expected MODULE:APP (e.g. main:app), got 'worker_app'"),
    ],
)
def test_bad_app_specs_say_what_is_wrong(spec: str, message: str) -> None:
    result = cli(spec)
    assert result.returncode == 2
    assert result.stderr.startswith(f"render-workflows: error: {message}")
    assert "Traceback" not in result.stderr


def test_missing_or_unknown_mode() -> None:
    missing = cli("worker_app:app")
    assert missing.returncode == 2
    assert "the RENDER_SDK_MODE environment variable is required (register or run)" in missing.stderr
    unknown = cli("worker_app:app", RENDER_SDK_MODE="serve", RENDER_SDK_SOCKET_PATH="/tmp/none.sock")
    assert unknown.returncode == 2
    assert "unknown RENDER_SDK_MODE 'serve': expected one of register, run" in unknown.stderr
    no_socket = cli("worker_app:app", RENDER_SDK_MODE="run")
    assert "the RENDER_SDK_SOCKET_PATH environment variable is required" in no_socket.stderr


def test_cli_serves_an_auto_start_app_once(socket_dir: Path) -> None:
    async def main() -> tuple[Attempt, Attempt]:
        command = [sys.executable, "-m", "render_sdk", "worker_app:app"]
        async with CallbackRuntime(socket_dir, command, WORKERS) as runtime:
            return await runtime.register(), await runtime.run("keyword_subtask")

    registration, run = asyncio.run(main())
    assert registration.returncode == 0, registration.stderr
    assert registration.paths() == ["/register-tasks"]
    assert run.result == [[1, 2]]
    assert run.paths().count("/input") == 1


def test_auto_start_does_nothing_without_the_environment() -> None:
    result = subprocess.run(
        [sys.executable, "worker_app.py"],
        cwd=WORKERS,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_auto_start_with_an_unknown_mode_exits_non_zero() -> None:
    result = subprocess.run(
        [sys.executable, "worker_app.py"],
        cwd=WORKERS,
        env=worker_env(RENDER_SDK_MODE="serve", RENDER_SDK_SOCKET_PATH="/tmp/none.sock"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "unknown RENDER_SDK_MODE 'serve'" in result.stderr


def test_a_program_that_failed_does_not_register_a_partial_task_list(socket_dir: Path) -> None:
    async def main() -> Attempt:
        async with CallbackRuntime(socket_dir, [sys.executable, "broken_import.py"], WORKERS) as runtime:
            return await runtime.register()

    attempt = asyncio.run(main())
    assert attempt.returncode == 1
    assert attempt.requests == []
    assert "ImportError: a dependency is missing" in attempt.stderr
    assert "not starting the worker because the program failed" in attempt.stderr
