"""A worker whose tasks misbehave on the callback socket as an attacker or a buggy SDK would.

Each task talks to its own attempt's socket (``RENDER_SDK_SOCKET_PATH``) with raw HTTP and prints what it got
back as one line (``answer <status> <body>``), which the tests read from the run's logs.
"""

import base64
import contextlib
import os
import socket
import sys
import time

from render_sdk import Retry, Workflows
from render_sdk._protocol.worker_env import SOCKET_VARIABLE

app = Workflows(default_retry=Retry(max_retries=0, wait_duration_ms=0), auto_start=True)

PAYLOADS = {
    "nan": b"[NaN]",
    "infinity": b"[Infinity]",
    "overflow": b"[1e400]",
    "bigint": b"[" + b"9" * 5000 + b"]",
    "surrogate": b'["\\ud800"]',
    "deep": b"[" * 1000 + b"]" * 1000,
}


def post(path: str, body: bytes, declared: int | None = None) -> str:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(os.environ[SOCKET_VARIABLE])
    length = len(body) if declared is None else declared
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    connection.sendall(f"{head}Content-Length: {length}\r\n\r\n".encode())
    with contextlib.suppress(OSError):  # the server answered and closed before reading it all
        connection.sendall(body)
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += connection.recv(65536)
    head_bytes, _, content = answer.partition(b"\r\n\r\n")
    headers = dict(line.split(b":", 1) for line in head_bytes.split(b"\r\n")[1:] if b":" in line)
    length = int(headers.get(b"content-length", b"0").strip() or 0)
    while len(content) < length:
        data = connection.recv(65536)
        if not data:
            break
        content += data
    connection.close()
    status = head_bytes.split(b" ", 2)[1].decode()
    return f"answer {status} {content.decode()}"


@app.task
def bad_output(kind: str) -> str:
    """Report a result whose payload is not strict JSON, then exit 0 as a worker whose report failed would."""
    output = base64.b64encode(PAYLOADS[kind]).decode()
    print(post("/callback", b'{"complete": {"output": "' + output.encode() + b'"}}'), flush=True)
    os._exit(0)


@app.task
def bad_body(kind: str) -> str:
    """Send a callback body that is itself not strict JSON."""
    body = b'{"complete": {"output": ""}, "x": ' + PAYLOADS[kind] + b"}"
    print(post("/callback", body), flush=True)
    os._exit(0)


@app.task
def huge_body(megabytes: int) -> str:
    """Send a callback body past the runtime's limit."""
    print(post("/callback", b"x" * (megabytes << 20)), flush=True)
    os._exit(0)


@app.task
def peek(run_id: str) -> str:
    """Ask for the result of a run that is not this run's subtask."""
    body = '{"task_run_id": "' + run_id + '"}'
    return post("/get-subtask-result", body.encode())


@app.task
def flood(connections: int, release: str) -> int:
    """Hold many idle connections open on this attempt's socket until ``release`` exists, then finish."""
    held = []
    for _ in range(connections):
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            connection.connect(os.environ[SOCKET_VARIABLE])
        held.append(connection)
    print(f"holding {len(held)}", flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)
    for connection in held:
        connection.close()
    return len(held)


@app.task
def long_line(megabytes: int) -> int:
    """Print one line of ``megabytes`` MiB."""
    sys.stdout.write("y" * (megabytes << 20) + "\n")
    sys.stdout.flush()
    return megabytes
