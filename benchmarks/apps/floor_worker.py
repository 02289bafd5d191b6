"""The floor: the least a worker process can do, with no SDK and nothing but the standard library.

Register mode posts a fixed task list with ``os`` and ``socket`` alone. Run mode reads its task and input
(``GET /input``, the one thing every worker must do) and runs it:

- ``noop()`` returns None;
- ``leaf(i)`` returns ``i``;
- ``chain(n)`` runs ``leaf(0)`` .. ``leaf(n - 1)`` one after the other and returns the sum: for each,
  ``POST /run-subtask``, then ``POST /get-subtask-result`` until the answer is final (the local runtime holds
  that request until the subtask is final, so one request usually suffices);
- ``fan_out(n)`` starts all ``n`` leaves first, then collects their results in order, and returns the sum.

One request at a time, one connection each (``Connection: close``): no threads, no event loop, no retries.
Whatever an SDK adds on top of this is its own cost.
"""

import os
import socket

REGISTER = b'{"tasks":[{"name":"noop"},{"name":"leaf"},{"name":"chain"},{"name":"fan_out"}]}'


def request(method: str, path: str, body: bytes = b"") -> bytes:
    """Send one request over the callback socket and return the body of its 200 answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(os.environ["RENDER_SDK_SOCKET_PATH"])
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    if not response.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
        raise SystemExit(f"{path} failed: {response[:300]!r}")
    return response.partition(b"\r\n\r\n")[2]


def run() -> None:
    # Only run mode parses JSON, so register mode imports nothing but os and socket.
    import binascii
    import json

    def encode(value: object) -> str:
        return binascii.b2a_base64(json.dumps(value).encode(), newline=False).decode()

    def decode(text: str) -> object:
        return json.loads(binascii.a2b_base64(text)) if text else []

    def start(i: int) -> str:
        body = json.dumps({"task_name": "leaf", "input": encode([i])}).encode()
        return json.loads(request("POST", "/run-subtask", body))["task_run_id"]

    def result(task_run_id: str) -> int:
        body = json.dumps({"task_run_id": task_run_id}).encode()
        while True:
            answer = json.loads(request("POST", "/get-subtask-result", body))
            if not answer["still_running"]:
                if "complete" not in answer:
                    raise SystemExit(f"subtask {task_run_id} failed: {answer.get('error')}")
                return decode(answer["complete"]["output"])[0]

    task = json.loads(request("GET", "/input"))
    args = decode(task["input"])
    name = task["task_name"]
    if name == "noop":
        output = None
    elif name == "leaf":
        output = args[0]
    elif name == "chain":
        output = sum(result(start(i)) for i in range(args[0]))
    elif name == "fan_out":
        output = sum([result(run_id) for run_id in [start(i) for i in range(args[0])]])
    else:
        raise SystemExit(f"unknown task {name!r}")
    request("POST", "/callback", json.dumps({"complete": {"output": encode([output])}}).encode())


if os.environ["RENDER_SDK_MODE"] == "register":
    request("POST", "/register-tasks", REGISTER)
else:
    run()
