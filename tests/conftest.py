"""Shared fixtures: the local runtime as a real subprocess (``python -m render_sdk dev``).

``local_runtime`` serves the example workflow (``examples/workflows/main.py``) from memory and yields a
:class:`LocalRuntimeProcess`; ``start_local_runtime`` is a factory for other workers and options. Every server
is stopped at teardown, even when the test failed, and its worker processes with it.

A server start costs about half a second of CPU (uvicorn, starlette and the REST models load, the worker
registers). Tests that look only at the runs they start, and need no particular store or state of the server,
share one server per (worker, directory, options) for the whole session: ``shared_runtime``. Tests that need
their own worker, store, options or a fresh server use ``start_local_runtime``.
"""

from __future__ import annotations

import compileall
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_WORKFLOWS = REPO / "examples" / "workflows"
READY_PREFIX = "Ready at "
READY_TIMEOUT = 60.0


@dataclass
class LocalRuntimeProcess:
    """A running ``render-workflows dev`` server.

    Attributes:
        url: Its base URL, e.g. ``http://127.0.0.1:41234`` (as ``base_url`` or ``RENDER_LOCAL_DEV_URL``).
        process: The server process (leader of its own process group).
        output: Every line it has printed so far (stdout and stderr).
        db_path: Its SQLite file, or None when it keeps runs in memory.
    """

    url: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)
    db_path: Path | None = None
    reader: threading.Thread | None = None

    def stop(self, timeout: float = 20.0) -> int:
        """Interrupt it as Ctrl-C would and wait for it to exit; SIGKILL if it does not."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self._reap()

    def kill(self) -> None:
        """SIGKILL the server (its worker processes are left to fend for themselves, as after a crash)."""
        if self.process.poll() is None:
            self.process.kill()
        self._reap()

    def _reap(self) -> int:
        code = self.process.wait()
        if self.reader is not None:
            self.reader.join(10)
        return code

    def wait_for_output(self, text: str, timeout: float = 30.0) -> str:
        """Wait until a printed line contains ``text``; return that line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.output):
                if text in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(
            f"no line containing {text!r} within {timeout} s; output:\n" + "\n".join(self.output)
        )


StartLocalRuntime = Callable[..., LocalRuntimeProcess]
SharedRuntime = Callable[..., LocalRuntimeProcess]


def _subprocess_env() -> dict[str, str]:
    """The environment for subprocesses: the repository and generated code importable without installing."""
    env = dict(os.environ)
    paths = [str(REPO), str(REPO / "generated")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("RENDER_USE_LOCAL_DEV", "RENDER_LOCAL_DEV_URL", "RENDER_SDK_MODE", "RENDER_SDK_SOCKET_PATH"):
        env.pop(name, None)
    return env


def _start(
    worker: Sequence[str],
    cwd: Path,
    db_path: Path | None,
    args: Sequence[str],
    env: dict[str, str] | None,
) -> LocalRuntimeProcess:
    store_args = ["--db", str(db_path)] if db_path is not None else ["--in-memory"]
    command = [sys.executable, "-m", "render_sdk", "dev", "--port", "0", *store_args, *args, "--", *worker]
    return launch(command, cwd, {**_subprocess_env(), **(env or {})}, db_path)


def launch(
    command: Sequence[str], cwd: Path, env: dict[str, str], db_path: Path | None = None
) -> LocalRuntimeProcess:
    """Start a ``render-workflows dev`` command line as given and wait until it prints ``Ready at URL``."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    server = LocalRuntimeProcess(url="", process=process, db_path=db_path)
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                line = line.rstrip("\n")
                server.output.append(line)
                if line.startswith(READY_PREFIX) and not ready.is_set():
                    server.url = line[len(READY_PREFIX) :].strip()
                    ready.set()
        ready.set()

    server.reader = threading.Thread(target=read, daemon=True)
    server.reader.start()
    if not ready.wait(READY_TIMEOUT) or not server.url:
        server.kill()
        raise AssertionError(
            f"`{' '.join(command)}` did not become ready; output:\n" + "\n".join(server.output)
        )
    return server


def pytest_configure(config: pytest.Config) -> None:
    """Keep pytest's rewritten test modules in ``__pycache__`` even where ``PYTHONDONTWRITEBYTECODE`` is set:
    without that cache every parallel worker parses and rewrites all of them again (about 4 s of CPU each)."""
    sys.dont_write_bytecode = False


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the code under test once, before any worker or subprocess starts: where
    ``PYTHONDONTWRITEBYTECODE`` is set (it is on some CI machines), every server and worker process of the
    suite would otherwise compile it afresh (~60 ms of CPU per server start)."""
    if not hasattr(session.config, "workerinput"):  # the controller, or a run without xdist
        for package in ("render_sdk", "generated"):
            compileall.compile_dir(REPO / package, quiet=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules marked ``slow(seconds=N)`` first, the longest first (in their collected order otherwise): with
    a module to a parallel worker, a long module handed out last would run on alone after the others have
    finished. ``N`` is about how long the module takes alone."""

    def seconds(item: pytest.Item) -> float:
        marker = item.get_closest_marker("slow")
        return float(marker.kwargs["seconds"]) if marker is not None else 0.0

    items.sort(key=seconds, reverse=True)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: two workers per core. Most tests wait on real processes (servers, workers, browsers) far
    longer than they compute, so one worker per core would leave the cores idle."""
    return 2 * len(os.sched_getaffinity(0))


@pytest.fixture
def start_local_runtime() -> Iterator[StartLocalRuntime]:
    """A factory: ``start_local_runtime(worker_argv, cwd=..., db_path=None, args=(), env=None)``.

    ``worker_argv`` is the worker command (default: the example workflow); ``db_path`` None means
    ``--in-memory``; ``args`` are extra ``dev`` options. All servers started are stopped at teardown.
    """
    started: list[LocalRuntimeProcess] = []

    def start(
        worker: Sequence[str] | None = None,
        cwd: Path = EXAMPLE_WORKFLOWS,
        db_path: Path | None = None,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> LocalRuntimeProcess:
        server = _start(worker or [sys.executable, "main.py"], cwd, db_path, args, env)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


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
def local_runtime(start_local_runtime: StartLocalRuntime) -> LocalRuntimeProcess:
    """The example workflow (``examples/workflows``) served from memory on an ephemeral port."""
    return start_local_runtime()


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """An environment for ``python -m render_sdk ...`` in a subprocess (repository code importable)."""
    return _subprocess_env()
