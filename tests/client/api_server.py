"""A small but real Render API for client tests: HTTP/1.1 over TCP on 127.0.0.1, in a process of its own.

It serves ``POST /v1/task-runs`` (honouring ``idempotencyKey``: a repeated key returns the first run),
``GET /v1/task-runs/{id}``, ``GET /v1/task-runs`` (filtered by ``rootTaskRunId`` only) and
``GET /v1/task-runs/events``, which replays the terminal state of finished runs
on subscribe, sends live terminal events, and then keeps the stream open with ``: ping`` comments until the
client leaves, as Render's dev server does. Runs end when the test says (:meth:`ApiServer.finish`).

:meth:`ApiServer.stop` takes the API away (the listening socket is closed and every open connection is
aborted, so clients see resets and refused connections); :meth:`ApiServer.start` brings it back on the same
port with the same runs.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import socket
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.client.conftest import details, task_run

TERMINAL = frozenset({"completed", "succeeded", "failed", "canceled"})


class ApiServer:
    """See the module docstring. Use as a context manager; ``url`` is its base URL.

    The server runs in a process of its own, so that a busy client and the server do not take turns on one
    interpreter lock (a busy thread holds it for 5 ms at a time). The methods and counters below ask it.
    """

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self._lock = threading.Lock()
        self._process = context.Process(target=_serve_in_child, args=(child_end,), daemon=True)
        self._process.start()
        self.port: int = self._pipe.recv()
        self.url = f"http://127.0.0.1:{self.port}"

    def _ask(self, *command: Any) -> Any:
        with self._lock:
            self._pipe.send(command)
            return self._pipe.recv()

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ask("exit")
        self._process.join(10)

    def start(self) -> None:
        """Listen (again) on the server's port."""
        self._ask("start")

    def stop(self) -> None:
        """Stop listening and abort every open connection."""
        self._ask("stop")

    def finish(self, run_ids: Iterable[str], status: str = "completed") -> None:
        """End the runs with ``status``."""
        self._ask("finish", list(run_ids), status)

    def add_runs(self, count: int) -> None:
        """Create ``count`` pending runs, as if someone else had started them."""
        self._ask("add_runs", count)

    def runs(self) -> list[str]:
        """Every run created, in order."""
        runs: list[str] = self._ask("runs")
        return runs

    def __getattr__(self, counter: str) -> int:
        """``create_requests``, ``list_requests``, ``get_requests``, ``event_connections``, ``keys``,
        ``longest_request_line``."""
        if counter.startswith("_"):
            raise AttributeError(counter)
        value: int = self._ask("count", counter)
        return value


def _serve_in_child(pipe: Any) -> None:
    api = _Api()
    api.run_thread()
    pipe.send(api.port)
    while True:
        command, *args = pipe.recv()
        if command == "exit":
            api.close()
            pipe.send(None)
            return
        if command == "count":
            value = getattr(api, args[0])
            pipe.send(len(value) if isinstance(value, dict) else value)
        else:
            pipe.send(getattr(api, command)(*args))


class _Api:
    """The server itself, in the child process."""

    def __init__(self, *, ping_interval: float = 0.5) -> None:
        self._ping_interval = ping_interval
        self._lock = threading.Lock()
        self.statuses: dict[str, str] = {}
        self.keys: dict[str, str] = {}
        self.create_requests = 0
        self.list_requests = 0
        self.get_requests = 0
        self.longest_request_line = 0
        self.event_connections = 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port: int = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._listening = False

    def run_thread(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # ---- control, from the process's main thread ----------------------------------------------------------

    def start(self) -> None:
        """Listen (again) on the server's port."""
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)

    def stop(self) -> None:
        """Stop listening and abort every open connection."""
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)

    def finish(self, run_ids: Iterable[str], status: str = "completed") -> None:
        """End the runs with ``status``."""
        with self._lock:
            for run_id in run_ids:
                self.statuses[run_id] = status

    def runs(self) -> list[str]:
        with self._lock:
            return list(self.statuses)

    def add_runs(self, count: int) -> None:
        with self._lock:
            for _ in range(count):
                self.statuses[f"trn-{len(self.statuses) + 1:020d}"] = "pending"

    # ---- serving -----------------------------------------------------------------------------------------

    async def _listen(self) -> None:
        self._listening = True
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True, backlog=4096, limit=2**20
        )

    async def _close(self) -> None:
        # A connection accepted just before the listener closed may not have reached ``_serve`` yet: it sees
        # this flag there and is aborted too (else it would be served on as if nothing had stopped).
        self._listening = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._connections):
            writer.transport.abort()
        self._connections.clear()
        if server is not None:
            await server.wait_closed()  # since Python 3.12 (and 3.11.x), only once no connection is left

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._listening:
            writer.transport.abort()
            return
        self._connections.add(writer)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                self.longest_request_line = max(self.longest_request_line, len(request_line))
                method, target, _ = request_line.split(" ", 2)
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in header_lines if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                url = urlsplit(target)
                if url.path == "/v1/task-runs/events":
                    await self._events(writer, parse_qs(url.query).get("taskRunIds", []))
                    return
                status, answer = self._answer(method, url.path, parse_qs(url.query), body)
                data = json.dumps(answer).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except ConnectionError:
            return
        finally:
            self._connections.discard(writer)
            writer.transport.abort()

    def _answer(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        with self._lock:
            if method == "GET" and path == "/v1/task-runs":
                self.list_requests += 1
                roots = query.get("rootTaskRunId", [])
                limit = int(query.get("limit", ["20"])[0])
                if roots:
                    listed = [run_id for run_id in roots if run_id in self.statuses][:limit]
                else:
                    after = query.get("cursor", [""])[0]
                    listed = [run_id for run_id in self.statuses if run_id > after][:limit]
                return 200, [
                    {"cursor": run_id, "taskRun": task_run(run_id, self.statuses[run_id])}
                    for run_id in listed
                ]
            if method == "POST" and path == "/v1/task-runs":
                self.create_requests += 1
                key = json.loads(body).get("idempotencyKey")
                run_id = self.keys.get(key) if key else None
                if run_id is None:
                    run_id = f"trn-{len(self.statuses) + 1:020d}"
                    self.statuses[run_id] = "pending"
                    if key:
                        self.keys[key] = run_id
                return 202, task_run(run_id, self.statuses[run_id])
            run_id = path.rsplit("/", 1)[-1]
            if method == "GET" and run_id in self.statuses:
                self.get_requests += 1
                return 200, details(run_id, self.statuses[run_id])
        return 404, {"message": f"{method} {path} not found", "code": "not_found"}

    async def _events(self, writer: asyncio.StreamWriter, run_ids: list[str]) -> None:
        self.event_connections += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        writer.write(b"retry: 2000\n\n")
        unsent = set(run_ids)
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + self._ping_interval
        while True:
            with self._lock:
                ended = [(run_id, self.statuses.get(run_id)) for run_id in unsent]
            for run_id, status in ended:
                if status in TERMINAL:
                    unsent.discard(run_id)
                    data = json.dumps(details(run_id, status))
                    writer.write(f"event: task.completed\ndata: {data}\n\n".encode())
            if loop.time() >= next_ping:
                writer.write(b": ping\n\n")
                next_ping = loop.time() + self._ping_interval
            await writer.drain()
            await asyncio.sleep(0.02)
