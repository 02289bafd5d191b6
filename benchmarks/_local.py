"""Running our local runtime (``render-workflows dev``) for a benchmark, and timing runs through its API."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _harness import APPS_DIR, REPO

if TYPE_CHECKING:
    import httpx

TERMINAL = frozenset({"completed", "succeeded", "failed", "canceled"})

# The dev server runs from our dependencies' interpreter with the repository put on sys.path in-process, not
# through PYTHONPATH: workers inherit the server's environment, and a reference SDK's worker must not see
# ours.
_BOOT = (
    "import sys; sys.path[:0] = [{repo!r}, {generated!r}]; from render_sdk._cli import main; main()"
).format(repo=str(REPO), generated=str(REPO / "generated"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dev_help(python: str) -> str:
    done = subprocess.run(
        [python, "-c", _BOOT, "dev", "--help"], cwd=APPS_DIR, capture_output=True, text=True, check=False
    )
    return done.stdout


class DevServer:
    """``render-workflows dev`` serving ``worker_argv`` on a free port, its store in a temporary directory.

    Args:
        python: Interpreter for the server (one with our runtime dependencies).
        worker_argv: The worker command, run by the server once per registration and per attempt.
        env: The server's environment, which its workers inherit.
        options: Extra ``dev`` options (``--prefork``, ``--max-concurrency N``, ...).
        db: SQLite file to use; default a fresh one in a temporary directory.
    """

    def __init__(
        self,
        python: str,
        worker_argv: Sequence[str],
        env: dict[str, str],
        options: Sequence[str] = (),
        db: Path | None = None,
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="rbench-dev-")
        self.db = db or Path(self._tmp.name) / "store.sqlite3"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(self._tmp.name) / "server.log"
        self.argv = [
            python,
            "-c",
            _BOOT,
            "dev",
            "--port",
            str(self.port),
            "--db",
            str(self.db),
            "--no-watch",
            "--workflow-slug",
            "bench",
            *options,
            "--",
            *worker_argv,
        ]
        self._env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self.ready_seconds = 0.0
        self._launched = 0.0

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def __enter__(self) -> DevServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.interrupt()
        self.close()

    def start(self) -> None:
        """Start the server and wait until its API lists the registered tasks (``ready_seconds`` later)."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Spawn the server process without waiting for it (:meth:`wait_ready` does)."""
        self._launched = time.perf_counter()
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv, env=self._env, cwd=self._tmp.name, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until the API lists the registered tasks; ``ready_seconds`` is the time since the spawn."""
        deadline = time.monotonic() + timeout
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"dev server exited with {self._proc.returncode}:\n{self.log()}")
            try:
                if self.get_json("/v1/tasks"):
                    self.ready_seconds = time.perf_counter() - self._launched
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.01)
        raise TimeoutError(f"dev server not ready within {timeout} s:\n{self.log()}")

    def get_json(self, path: str) -> Any:
        """``GET path`` on a fresh connection and its JSON body; ValueError unless the answer is 200.

        The standard library only, no HTTP client: this keeps the harness's memory small, which matters to
        the cold-start benchmark (a child's peak RSS counts its parent's before ``exec``), and a poll costs
        the starting server next to no CPU.
        """
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            response = b""
            while chunk := sock.recv(65536):
                response += chunk
        head, _, body = response.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise ValueError(f"GET {path}: {head[:100]!r}")
        return json.loads(body)

    def stop(self) -> None:
        self.interrupt()
        self.wait_stopped()

    def interrupt(self) -> None:
        """Ask the server to stop (SIGINT, as Ctrl-C), without waiting: :meth:`wait_stopped` does."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)

    def wait_stopped(self) -> None:
        if self._proc is None:
            return
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def close(self) -> None:
        """Wait for the stop :meth:`interrupt` asked for, then delete the temporary directory (and store)."""
        self.wait_stopped()
        self._tmp.cleanup()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def peak_rss_mb(self) -> float:
        """The server process's own peak resident set (VmHWM), workers excluded."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc status")


@contextlib.contextmanager
def running(servers: Iterable[DevServer]) -> Iterator[None]:
    """Start ``servers`` side by side (all spawned, then each waited for) and stop them all the same way.

    Faster than one after the other; their ``ready_seconds`` then overlap, so time a start with
    :meth:`DevServer.start` alone.
    """
    servers = list(servers)
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready()
        yield
    finally:
        for server in servers:
            server.interrupt()
        for server in servers:
            server.close()


def run_and_wait(
    client: httpx.Client, base_url: str, task: str, input_data: Any, timeout: float = 600.0
) -> float:
    """Trigger ``task`` and wait for its terminal event on the SSE stream; return seconds taken.

    Raises:
        RuntimeError: The run did not complete.
    """
    started = time.perf_counter()
    response = client.post(f"{base_url}/v1/task-runs", json={"task": task, "input": input_data})
    if response.status_code != 202:
        raise RuntimeError(f"POST /v1/task-runs {task}: {response.status_code} {response.text}")
    run_id = response.json()["id"]
    details = wait_for(client, base_url, run_id, timeout)
    elapsed = time.perf_counter() - started
    if details["status"] not in ("completed", "succeeded"):
        raise RuntimeError(f"{task} run {run_id} ended {details['status']}: {details.get('error')}")
    return elapsed


def wait_for(client: httpx.Client, base_url: str, run_id: str, timeout: float) -> dict[str, Any]:
    """Read the event stream until ``run_id``'s terminal event; return its details."""
    import httpx  # here, not at the top: the cold-start benchmark's harness must not import it (get_json)

    with client.stream(
        "GET",
        f"{base_url}/v1/task-runs/events",
        params={"taskRunIds": run_id},
        timeout=httpx.Timeout(10.0, read=timeout),
    ) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            details: dict[str, Any] = json.loads(line[5:])
            if details.get("id") == run_id and details.get("status") in TERMINAL:
                return details
    raise RuntimeError(f"event stream ended before run {run_id} finished")
