"""Startup and shutdown of ``render-workflows dev`` as real processes: one server per database, unusable
databases refused in one line with nothing left behind, private files whatever the umask, socket directories
removed on every exit the process survives, and a quiet Ctrl-C while a client awaits a run."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.local.processes import wait_until
from tests.local.test_api import start_run, wait_finished

WORKERS = Path(__file__).resolve().parent / "workers"
WORKER = [sys.executable, "main.py"]


@pytest.fixture
def private_tmp() -> Iterator[Path]:
    """A TMPDIR of the test's own, so that socket directories left behind can be counted.

    In /tmp: ``tmp_path`` can be too deep for Unix socket paths (under pytest-xdist it is), and then the
    server rightly makes its socket directory in /tmp instead.
    """
    directory = Path(tempfile.mkdtemp(prefix="rsdk-tmp-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def dev(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "render_sdk", "dev", "--port", "0", "--no-watch", *args, "--", *WORKER]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_second_server_on_one_database_exits_with_one_line(
    start_local_runtime: Any, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    db = tmp_path / ".render" / "local-runtime.sqlite3"
    first = start_local_runtime(WORKER, cwd=WORKERS, db_path=db, args=["--no-watch"])
    second = dev(["--db", str(db)], WORKERS, subprocess_env)
    assert second.returncode == 1
    (line,) = second.stderr.strip().splitlines()
    assert str(db) in line and f"pid {first.process.pid}" in line and first.url in line, line
    assert "--db PATH" in line and "--in-memory" in line, line
    assert second.stdout == ""
    # The first server still owns its runs.
    run = start_run(first.url, "wf/square", [4])
    assert wait_finished(first.url, run["id"])["results"] == [16]
    first.stop()
    assert not db.with_name(db.name + ".lock").exists()
    third = start_local_runtime(WORKER, cwd=WORKERS, db_path=db, args=["--no-watch"])
    assert httpx.get(f"{third.url}/v1/task-runs/{run['id']}").json()["status"] == "completed"


def unusable(kind: str, tmp_path: Path) -> tuple[Path, str]:
    """A database path SQLite cannot use, and the words the refusal must contain."""
    if kind == "corrupt":
        path = tmp_path / "corrupt.sqlite3"
        path.write_bytes(b"this is not a database, " * 400)
        return path, "is not a SQLite database or is corrupt"
    if kind == "directory":
        path = tmp_path / "a-directory"
        path.mkdir()
        return path, "cannot open"
    if kind == "under-a-file":
        (tmp_path / "plain-file").write_text("x")
        return tmp_path / "plain-file" / "db.sqlite3", "cannot create"
    path = tmp_path / "newer.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 999")
    connection.close()
    return path, "was written by a newer render_sdk"


@pytest.mark.parametrize("kind", ["corrupt", "directory", "under-a-file", "newer"])
def test_unusable_database_is_one_line_and_leaves_nothing(
    kind: str, tmp_path: Path, private_tmp: Path, subprocess_env: dict[str, str]
) -> None:
    place = tmp_path / "place"
    place.mkdir()
    path, words = unusable(kind, place)
    before = sorted((p.name, p.stat().st_mode) for p in place.rglob("*"))
    result = dev(["--db", str(path)], WORKERS, {**subprocess_env, "TMPDIR": str(private_tmp)})
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("render-workflows dev: ") and str(path) in line and words in line, line
    assert "Traceback" not in result.stdout + result.stderr
    assert sorted((p.name, p.stat().st_mode) for p in place.rglob("*")) == before
    assert list(private_tmp.iterdir()) == []


def test_read_only_database_is_one_line(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes read-only files anyway")
    path = tmp_path / "db.sqlite3"
    sqlite3.connect(path).close()
    path.chmod(0o400)
    result = dev(["--db", str(path)], WORKERS, subprocess_env)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert str(path) in line and "read-only" in line, line


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 000 for the servers started meanwhile (a child inherits it)."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_database_and_its_directory_are_private_whatever_the_umask(
    start_local_runtime: Any, tmp_path: Path, private_tmp: Path
) -> None:
    db = tmp_path / ".render" / "local-runtime.sqlite3"
    server = start_local_runtime(
        WORKER, cwd=WORKERS, db_path=db, args=["--no-watch"], env={"TMPDIR": str(private_tmp)}
    )
    os.umask(0o022)
    run = start_run(server.url, "wf/square", [3])
    wait_finished(server.url, run["id"])
    assert mode(db.parent) == 0o700
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        assert mode(path) == 0o600, path
    assert mode(db.with_name(db.name + ".lock")) == 0o600
    (socket_dir,) = private_tmp.iterdir()
    assert mode(socket_dir) == 0o700


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_socket_directory_is_removed_on_every_stop(
    signum: int, start_local_runtime: Any, private_tmp: Path
) -> None:
    server = start_local_runtime(WORKER, cwd=WORKERS, args=["--no-watch"], env={"TMPDIR": str(private_tmp)})
    assert len(list(private_tmp.iterdir())) == 1
    server.process.send_signal(signum)
    assert server.process.wait(20) == 0
    assert list(private_tmp.iterdir()) == []


def test_a_tmpdir_too_deep_for_socket_paths_is_passed_over_for_tmp(
    start_local_runtime: Any, tmp_path: Path
) -> None:
    deep = tmp_path.joinpath(*["d" * 20] * 6)
    deep.mkdir(parents=True)
    server = start_local_runtime(WORKER, cwd=WORKERS, args=["--no-watch"], env={"TMPDIR": str(deep)})
    run = start_run(server.url, "wf/socket_path", [])
    (socket_path,) = wait_finished(server.url, run["id"])["results"]
    socket_dir = Path(socket_path).parent
    assert socket_dir.parent == Path("/tmp") and mode(socket_dir) == 0o700
    assert list(deep.iterdir()) == []
    assert server.stop() == 0
    assert not socket_dir.exists()


def test_ctrl_c_while_a_client_awaits_is_quiet_and_quick(start_local_runtime: Any, tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite3"
    server = start_local_runtime(WORKER, cwd=WORKERS, db_path=db, args=["--no-watch"])
    pids = tmp_path / "pids"
    pids.mkdir()
    run = start_run(server.url, "wf/slow_then_done", [str(pids), 60])
    wait_until(lambda: any(pids.glob("*.pid")), message="the attempt to start")
    stream_ended: list[Any] = []
    stream_open = threading.Event()

    def await_run() -> None:
        params = {"taskRunIds": run["id"]}
        try:
            with httpx.stream(
                "GET", f"{server.url}/v1/task-runs/events", params=params, timeout=30
            ) as events:
                for _ in events.iter_lines():
                    stream_open.set()  # the first line is the stream's "retry:" advice
        except httpx.HTTPError as exc:
            stream_ended.append(exc)
        stream_ended.append(time.monotonic())

    client = threading.Thread(target=await_run)
    client.start()
    assert stream_open.wait(30), "the event stream did not open"
    interrupted = time.monotonic()
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(10) == 0
    exited = time.monotonic()
    client.join(10)
    assert exited - interrupted < 2.0, exited - interrupted
    assert len(stream_ended) == 1 and stream_ended[0] - interrupted < 2.0, stream_ended
    server.stop()
    output = "\n".join(server.output)
    assert "Traceback" not in output and "CancelledError" not in output, output
    assert "Cancel" not in output and "ERROR" not in output, output
    # On restart, the retried run comes after the banner and says why.
    again = start_local_runtime(WORKER, cwd=WORKERS, db_path=db, args=["--no-watch"])
    reason = f"retry    {run['id']}  attempt 1 was cut off by the last stop; retrying"
    line = again.wait_for_output(reason)
    assert again.output.index(line) > again.output.index(f"Ready at {again.url}")
