"""A counting TCP proxy: forwards 127.0.0.1 connections to a server and counts what clients open.

Counting at a proxy the client talks to is exact, unlike sampling ``ss`` or ``/proc/net/tcp`` (short-lived
connections slip between samples), and it needs nothing from the server. A connection counts as an
event-stream connection when any request it carries is ``GET /v1/task-runs/events``; requests are counted by
their request lines in the client-to-server bytes (the JSON bodies involved never contain ``HTTP/1.1\\r\\n``).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

_EVENTS_REQUEST = b"GET /v1/task-runs/events"
_REQUEST_LINE_END = b" HTTP/1.1\r\n"


@dataclass
class Counts:
    connections: int = 0
    event_stream_connections: int = 0
    event_stream_requests: int = 0
    requests: int = 0
    peak_open: int = 0


class CountingProxy:
    """Listens on a free 127.0.0.1 port and forwards to ``upstream_port``; use as a context manager."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.counts = Counts()
        self._open = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def reset(self) -> Counts:
        """Return the counts so far and start counting again."""
        counts, self.counts = self.counts, Counts()
        return counts

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
        # Connections still open (idle keep-alive, an unfinished stream) end with the proxy.
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.counts.connections += 1
        self._open += 1
        self.counts.peak_open = max(self.counts.peak_open, self._open)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            try:
                await asyncio.gather(
                    self._pipe(reader, up_writer, count=True), self._pipe(up_reader, writer, count=False)
                )
            finally:
                up_writer.close()
        except OSError:
            pass
        except asyncio.CancelledError:
            # The proxy is stopping with this connection still open (a client that gave up on its waits).
            # Ending normally keeps asyncio's stream callback from reporting the cancellation as an error.
            pass
        finally:
            self._open -= 1
            self._handlers.discard(task)
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, count: bool) -> None:
        """Copy until end of stream, then close the other side so its own pipe ends too."""
        tail = b""
        saw_events = False
        try:
            while data := await reader.read(65536):
                if count:
                    window = tail + data
                    self.counts.requests += window.count(_REQUEST_LINE_END) - tail.count(_REQUEST_LINE_END)
                    events = window.count(_EVENTS_REQUEST) - tail.count(_EVENTS_REQUEST)
                    if events:
                        self.counts.event_stream_requests += events
                        if not saw_events:
                            saw_events = True
                            self.counts.event_stream_connections += 1
                    tail = window[-64:]
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
