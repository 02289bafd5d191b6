"""Record every cassette anew: ``python cassettes/record.py [pytest options]``.

Runs the scenarios of ``tests/client/test_cassettes.py`` in record mode: each one starts a local runtime
(``render-workflows dev``, serving ``tests/compat/workers/ours``) on an ephemeral port, runs against it with
vcrpy recording, and writes ``cassettes/<scenario>.yaml``. Then it replays them all once (with the schema
checks), so a recording that does not replay fails here rather than in CI. If either step fails, the previous
cassettes are put back. Review the diff like code before committing it.

vcrpy reads a response to its end before the client sees any of it, and a server may keep an event stream
open after its runs have ended (Render's dev server does, with pings). So the recording client reads an event
stream only until every run it subscribed to has had its terminal event, as the SDK's own readers do: see
:func:`recording_transport`, which the scenarios use while recording.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
CASSETTES = ROOT / "cassettes"
TESTS = "tests/client/test_cassettes.py"
# The scenarios only: the tests of the cassettes themselves need all of them, so they run in the replay step.
SCENARIOS_ONLY = "not openapi and not tampered and not stale and not secrets and not network"


def recording_transport(asynchronous: bool) -> httpx.AsyncHTTPTransport | httpx.HTTPTransport:
    """A real transport whose event streams end once every subscribed run has had its terminal event.

    The cut happens below vcrpy (which patches the transport's ``handle_request``), in the connection pool's
    answer, so what vcrpy records is exactly what the client would have read.
    """
    transport = httpx.AsyncHTTPTransport() if asynchronous else httpx.HTTPTransport()
    transport._pool = _StoppingPool(transport._pool)  # type: ignore[assignment]
    return transport


class _StoppingPool:
    """An httpcore connection pool whose event-stream answers stop after the last terminal event."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def handle_request(self, request: Any) -> Any:
        return self._stop_reading(request, self._pool.handle_request(request))

    async def handle_async_request(self, request: Any) -> Any:
        return self._stop_reading(request, await self._pool.handle_async_request(request))

    @staticmethod
    def _stop_reading(request: Any, response: Any) -> Any:
        url = urlsplit(bytes(request.url).decode())
        if url.path.endswith("/task-runs/events") and response.status == 200:
            awaited = set(parse_qs(url.query).get("taskRunIds", []))
            response.stream = _UntilEnded(response.stream, awaited)
        return response


class _UntilEnded:
    """An event-stream body that ends after the frame holding the last awaited run's terminal event."""

    def __init__(self, stream: Any, awaited: set[str]) -> None:
        self._stream = stream
        self._awaited = awaited
        self._buffer = b""

    def _take(self, chunk: bytes) -> tuple[bytes, bool]:
        """The part of ``chunk`` to pass on, and whether the stream is complete with it."""
        data, carried, position = self._buffer + chunk, len(self._buffer), 0
        while (end := _frame_end(data, position)) >= 0:
            self._note(data[position:end])
            position = end
            if not self._awaited:
                return chunk[: end - carried], True
        self._buffer = data[position:]
        return chunk, False

    def _note(self, frame: bytes) -> None:
        from render_sdk.client.types import is_terminal

        lines = frame.splitlines()
        data = b"\n".join(line[5:].removeprefix(b" ") for line in lines if line.startswith(b"data:"))
        if data:
            body = json.loads(data)
            if isinstance(body, dict) and is_terminal(str(body.get("status"))):
                self._awaited.discard(body.get("id"))

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            part, complete = self._take(chunk)
            yield part
            if complete:
                return

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            part, complete = self._take(chunk)
            yield part
            if complete:
                return

    def close(self) -> None:
        self._stream.close()

    async def aclose(self) -> None:
        await self._stream.aclose()


def _frame_end(data: bytes, start: int) -> int:
    """Where the first complete SSE frame at or after ``start`` ends (after its blank line), or -1."""
    ends = [i + len(blank) for blank in (b"\n\n", b"\r\n\r\n") if (i := data.find(blank, start)) >= 0]
    return min(ends, default=-1)


def pytest(args: list[str], env: dict[str, str]) -> int:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TESTS, *args]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    env.pop("RENDER_SDK_RECORD_CASSETTES", None)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), str(ROOT / "generated"), env.get("PYTHONPATH")])
    )
    with tempfile.TemporaryDirectory() as backup:
        previous = sorted(CASSETTES.glob("*.yaml"))
        for cassette in previous:
            shutil.move(cassette, Path(backup) / cassette.name)
        status = pytest(["-k", SCENARIOS_ONLY, *argv], {**env, "RENDER_SDK_RECORD_CASSETTES": "1"})
        if status == 0:
            status = pytest(argv, env)
        if status != 0:
            for cassette in CASSETTES.glob("*.yaml"):
                cassette.unlink()
            for cassette in previous:
                shutil.move(Path(backup) / cassette.name, cassette)
            print("recording failed; the previous cassettes are back in place", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
