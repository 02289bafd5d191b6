"""The floor: the least a worker process can do, with no SDK and nothing but ``os`` and ``socket``.

Register mode posts one task, ``noop``. Run mode connects to the socket and posts a completed callback
(output ``[null]``) without even reading its input. Whatever an SDK adds on top of this is its own cost.
"""

import os
import socket

REGISTER = b'{"tasks":[{"name":"noop","options":{}}]}'
COMPLETE = b'{"complete":{"output":"W251bGxd"}}'


def post(path: str, body: bytes) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(os.environ["RENDER_SDK_SOCKET_PATH"])
        head = (
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
        if not response.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
            raise SystemExit(f"{path} failed: {response[:200]!r}")


if os.environ["RENDER_SDK_MODE"] == "register":
    post("/register-tasks", REGISTER)
else:
    post("/callback", COMPLETE)
