"""A worker speaking the callback protocol by hand (stdlib only), to probe the local runtime's callback API.

Tasks: ``probe`` (tries the subtask endpoints and returns what it saw), ``wait_for_child`` (starts ``child``
and polls until it is no longer running, returning the last poll), ``poll_once`` (starts ``child`` and asks
for its result once, returning the answer and how long it took), and ``child`` (sleeps).
"""

import base64
import http.client
import json
import os
import socket
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def call(method: str, path: str, body: object = None) -> tuple[int, object]:
    connection = UnixConnection(os.environ["RENDER_SDK_SOCKET_PATH"])
    payload = None if body is None else json.dumps(body)
    connection.request(method, path, payload, {"Content-Type": "application/json"})
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    return response.status, (json.loads(raw) if raw else None)


def b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def probe() -> object:
    seen: dict[str, object] = {}
    seen["unknown_task"] = call("POST", "/run-subtask", {"task_name": "nope", "input": b64([])})
    request = {
        "task_name": "child",
        "input": b64([0]),
        "idempotency_key": "k1",
        "created_at": "2026-01-01T00:00:00Z",
    }
    first = call("POST", "/run-subtask", request)
    second = call("POST", "/run-subtask", request)
    seen["same_run"] = first[1] == second[1] and first[0] == 200
    seen["unknown_run"] = call("POST", "/get-subtask-result", {"task_run_id": "trn-unknown"})
    seen["malformed"] = call("POST", "/run-subtask", {"input": 3})[0]
    seen["child_result"] = wait_result(first[1]["task_run_id"])  # type: ignore[index]
    return seen


def wait_result(task_run_id: str) -> object:
    while True:
        status, body = call("POST", "/get-subtask-result", {"task_run_id": task_run_id})
        if status != 200 or not body["still_running"]:  # type: ignore[index]
            return body
        time.sleep(0.1)


def poll_once(child_seconds: float) -> object:
    _, body = call("POST", "/run-subtask", {"task_name": "child", "input": b64([child_seconds])})
    began = time.monotonic()
    status, answer = call("POST", "/get-subtask-result", {"task_run_id": body["task_run_id"]})  # type: ignore[index]
    return {"status": status, "answer": answer, "seconds": time.monotonic() - began}


def main() -> None:
    if os.environ["RENDER_SDK_MODE"] == "register":
        names = ["probe", "wait_for_child", "poll_once", "child"]
        call("POST", "/register-tasks", {"tasks": [{"name": name, "options": {}} for name in names]})
        return
    _, task = call("GET", "/input")
    name = task["task_name"]  # type: ignore[index]
    args = json.loads(base64.b64decode(task["input"]))  # type: ignore[index]
    if name == "probe":
        result: object = probe()
    elif name == "wait_for_child":
        _, body = call("POST", "/run-subtask", {"task_name": "child", "input": b64([60])})
        print(f"polling child {body['task_run_id']} from pid {os.getpid()}", flush=True)  # type: ignore[index]
        result = wait_result(body["task_run_id"])  # type: ignore[index]
    elif name == "poll_once":
        result = poll_once(args[0])
    else:
        time.sleep(args[0])
        result = "child done"
    call("POST", "/callback", {"complete": {"output": b64([result])}})


if __name__ == "__main__":
    sys.exit(main())
