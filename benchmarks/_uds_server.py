"""A minimal callback-API server on a Unix socket, playing Render's side of one worker process.

It answers ``GET /input`` with a configured task and input, and ``POST /register-tasks`` and ``POST
/callback`` with an empty 200, and records when each request was answered. The benchmarks use it where the
local runtime would add its own costs to what is being measured (worker cold start, the raw process floor).
"""

from __future__ import annotations

import json
import socketserver
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Exchange:
    """One request the server answered, and when (``time.perf_counter()``) the answer was sent."""

    method: str
    path: str
    body: bytes
    answered_at: float


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    owner: CallbackServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)
        self.wfile.flush()

    def do_GET(self) -> None:
        owner = self.server.owner
        if self.path.split("?", 1)[0] == "/input":
            self._answer(200, owner.input_payload)
        else:
            self._answer(404, b'{"message":"not found"}')
        owner.record(Exchange("GET", self.path, b"", time.perf_counter()))

    def do_POST(self) -> None:
        body = self._body()
        self._answer(200, b"")
        self.server.owner.record(Exchange("POST", self.path, body, time.perf_counter()))

    def address_string(self) -> str:
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:
        pass


class CallbackServer:
    """A threaded HTTP server on a fresh Unix socket; use as a context manager."""

    def __init__(self, task_name: str = "noop", input_b64: str = "W10=") -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="rbench-", dir="/tmp")
        self.socket_path = str(Path(self._dir.name) / "cb.sock")
        self.input_payload = json.dumps({"task_name": task_name, "input": input_b64}).encode()
        self._exchanges: list[Exchange] = []
        self._cond = threading.Condition()
        self._server = _Server(self.socket_path, _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})

    def __enter__(self) -> CallbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._dir.cleanup()

    def record(self, exchange: Exchange) -> None:
        with self._cond:
            self._exchanges.append(exchange)
            self._cond.notify_all()

    def reset(self) -> None:
        with self._cond:
            self._exchanges.clear()

    def wait_for(self, path: str, timeout: float) -> Exchange:
        """Block until a request to ``path`` has been answered, or raise ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for exchange in self._exchanges:
                    if exchange.path.split("?", 1)[0] == path:
                        return exchange
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no {path} request within {timeout} s")
                self._cond.wait(remaining)
