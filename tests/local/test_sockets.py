"""The runtime's own sockets: the REST listener, the per-attempt callback server and process-group checks."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from render_sdk.local.attempts.processes import _group_alive
from render_sdk.local.attempts.socket_server import Reply, SocketServer
from render_sdk.local.runtime import _bind

DEADLINE_SECONDS = 10.0


def test_rest_listener_turns_nagle_off_on_accepted_connections() -> None:
    # With Nagle on, a keep-alive response written as headers then body waits for the client's delayed ACK
    # (~40 ms per request). asyncio (and so uvicorn) disables it only on listeners created as IPPROTO_TCP.
    async def main() -> int:
        listener = _bind("127.0.0.1", 0)
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=listener)
        try:
            _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
            try:
                return await asyncio.wait_for(accepted, DEADLINE_SECONDS)
            finally:
                writer.close()
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(main()) != 0


async def _connect(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_unix_connection(str(path))


def _request(path: str) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{{}}".encode()


async def _answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The head and the body of the next answer on the connection."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE_SECONDS)
    fields = dict(line.lower().split(b":", 1) for line in head.split(b"\r\n")[1:] if line)
    length = int(fields[b"content-length"])
    return head, await reader.readexactly(length)


def test_held_request_ends_when_the_client_hangs_up(tmp_path: Path) -> None:
    async def main() -> None:
        started = asyncio.Event()
        cancelled = asyncio.Event()

        async def handler(method: str, path: str, body: bytes) -> Reply:
            started.set()
            try:
                await asyncio.Event().wait()  # held until the server gives up on it
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return Reply(200)

        server = SocketServer(tmp_path / "held.sock", handler)
        await server.start()
        try:
            _, writer = await _connect(server.path)
            writer.write(_request("/held"))
            await asyncio.wait_for(started.wait(), DEADLINE_SECONDS)
            writer.close()
            await asyncio.wait_for(cancelled.wait(), DEADLINE_SECONDS)
        finally:
            await server.close()

    asyncio.run(main())


def test_request_pipelined_behind_a_held_one_is_answered_next(tmp_path: Path) -> None:
    async def main() -> list[bytes]:
        first_started = asyncio.Event()
        release_first = asyncio.Event()

        async def handler(method: str, path: str, body: bytes) -> Reply:
            if path == "/first":
                first_started.set()
                await release_first.wait()
            return Reply(200, {"path": path})

        server = SocketServer(tmp_path / "pipelined.sock", handler)
        await server.start()
        try:
            reader, writer = await _connect(server.path)
            writer.write(_request("/first"))
            await asyncio.wait_for(first_started.wait(), DEADLINE_SECONDS)
            writer.write(_request("/second"))  # arrives while the first is still held
            await writer.drain()
            release_first.set()
            bodies = []
            for _ in range(2):
                bodies.append((await _answer(reader))[1])
            writer.close()
            return bodies
        finally:
            await server.close()

    assert asyncio.run(main()) == [b'{"path":"/first"}', b'{"path":"/second"}']


def test_a_kept_alive_connection_serves_one_request_after_another(tmp_path: Path) -> None:
    """Each request sent only once the previous answer arrived (as an HTTP client's connection pool does)."""

    async def main() -> list[bytes]:
        async def handler(method: str, path: str, body: bytes) -> Reply:
            return Reply(200, {"path": path})

        server = SocketServer(tmp_path / "keep-alive.sock", handler)
        await server.start()
        try:
            reader, writer = await _connect(server.path)
            bodies = []
            for path in ("/first", "/second", "/third"):
                writer.write(_request(path))
                head, body = await _answer(reader)
                assert b"connection: close" not in head.lower()
                bodies.append(body)
            writer.close()
            return bodies
        finally:
            await server.close()

    assert asyncio.run(main()) == [b'{"path":"/first"}', b'{"path":"/second"}', b'{"path":"/third"}']


def test_group_is_alive_while_any_member_runs(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    # The leader starts a grandchild in its group, reports its pid and exits.
    leader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; "
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
            f"open({str(pid_file)!r}, 'w').write(str(child.pid))",
        ],
        start_new_session=True,
    )
    assert leader.wait(DEADLINE_SECONDS) == 0
    grandchild = int(pid_file.read_text())
    try:
        assert asyncio.run(_group_alive(leader.pid))
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while asyncio.run(_group_alive(leader.pid)):
        assert time.monotonic() < deadline, f"group {leader.pid} (grandchild {grandchild}) still alive"
        time.sleep(0.05)


def test_socket_is_0600_from_bind_whatever_the_umask(tmp_path: Path, monkeypatch: Any) -> None:
    """No chmod after the bind: the mode is right from the moment the socket file exists."""
    import render_sdk.local.attempts.socket_server as socket_server

    def no_chmod(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the socket's mode must not depend on a chmod after it exists")

    monkeypatch.setattr(socket_server.os, "chmod", no_chmod)

    async def main() -> int:
        async def handler(method: str, path: str, body: bytes) -> Reply:
            return Reply(200)

        server = SocketServer(tmp_path / "private.sock", handler)
        previous = os.umask(0)
        try:
            await server.start()
        finally:
            os.umask(previous)
        try:
            return stat.S_IMODE(os.stat(server.path).st_mode)
        finally:
            await server.close()

    assert asyncio.run(main()) == 0o600


DESCRIPTOR_SERVER = """
import asyncio, resource, sys
from pathlib import Path
from render_sdk.local.attempts.socket_server import Reply, SocketServer

async def main():
    async def handler(method, path, body):
        return Reply(200, {"path": path})

    server = SocketServer(Path(sys.argv[1]), handler, notice=lambda line: print("notice", line, flush=True))
    await server.start()
    resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))
    print("listening", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_running_out_of_descriptors_pauses_accepting_and_says_so_once(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    path = tmp_path / "few.sock"
    server = subprocess.Popen(
        [sys.executable, "-c", DESCRIPTOR_SERVER, str(path)],
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "listening"
        held = []
        for _ in range(120):  # far more than the 48 descriptors the server may have
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.connect(str(path))
            held.append(connection)
        line = server.stdout.readline()
        assert line.startswith("notice cannot accept more callback connections"), line
        for connection in held:
            connection.close()
        # Once descriptors are free again, a request is answered.
        deadline = time.monotonic() + DEADLINE_SECONDS
        answer = b""
        while time.monotonic() < deadline and b'{"path":"/after"}' not in answer:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(DEADLINE_SECONDS)
                client.connect(str(path))
                client.sendall(_request("/after"))
                answer = client.recv(65536)
        assert b'{"path":"/after"}' in answer
    finally:
        server.kill()
        output, _ = server.communicate()
    assert "notice cannot accept" not in output  # said once, not per connection
    assert "Traceback" not in output
