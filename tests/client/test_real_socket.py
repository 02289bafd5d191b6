"""Behaviour that needs a real socket: idle streams (only a real transport enforces read timeouts) and
connections closed when a client is dropped without closing it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from render_sdk.client import Render, RenderSync
from render_sdk.client._config import Timeouts
from tests.client.conftest import details, task_run


class Server:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.connections = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def send_json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_json(202, task_run("trn-1"))

            def do_GET(self) -> None:
                if not self.path.startswith("/v1/task-runs/events"):
                    self.send_json(200, details("trn-1", "running"))
                    return
                with server.lock:
                    server.connections += 1
                    number = server.connections
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(b": ping\n\n")
                self.wfile.flush()
                if number == 1:
                    server.release.wait(30)  # silent: no events, no heartbeats
                    return
                data = json.dumps(details("trn-1", "completed"))
                self.wfile.write(f"event: task.completed\ndata: {data}\n\n".encode())
                self.wfile.flush()
                server.release.wait(30)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as running:
        yield running


def test_idle_stream_reconnects_async(server: Server) -> None:
    import asyncio

    async def main() -> Any:
        async with Render(base_url=server.url, timeouts=Timeouts(stream_idle=0.3)) as render:
            started = await render.workflows.run_task("wf/t", [1])
            return await started.wait(timeout=20)

    assert asyncio.run(main()).status == "completed"
    assert server.connections == 2


def test_idle_stream_reconnects_sync(server: Server) -> None:
    with RenderSync(base_url=server.url, timeouts=Timeouts(stream_idle=0.3)) as render:
        assert render.workflows.run_task("wf/t", [1]).wait(timeout=20).status == "completed"
    assert server.connections == 2


def test_seed_style_client_without_close_leaks_nothing(server: Server) -> None:
    """``render = Render()`` without ``async with`` (as in the seed) closes its sockets with the loop."""
    import asyncio
    import gc

    async def main() -> Any:
        render = Render(base_url=server.url, timeouts=Timeouts(stream_idle=0.3))
        started = await render.workflows.run_task(task_identifier="my-workflow/square", input_data=[5])
        return await started

    assert asyncio.run(main()).status == "completed"
    sync_render = RenderSync(base_url=server.url)
    assert sync_render.workflows.get_task_run("trn-1").status == "running"
    del sync_render
    gc.collect()  # an unclosed socket would surface here as an unraisable ResourceWarning (an error)
