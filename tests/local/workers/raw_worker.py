"""A worker speaking the callback protocol by hand (stdlib only), to probe the local runtime's callback API.

Tasks: ``probe`` (tries the subtask endpoints and returns what it saw), ``wait_for_child`` (starts ``child``
and polls until it is no longer running, returning the last poll), ``poll_once`` (starts ``child`` and asks
for its result once, returning the answer and how long it took), ``child`` (sleeps), ``identity`` (returns
what ``GET /input`` said besides the input), ``parent_of_identity`` (returns its subtask ``identity``'s), and
three that fail, registered with no options, a partial retry policy and fields from a newer SDK.
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
        names = ["probe", "wait_for_child", "poll_once", "child", "identity", "parent_of_identity"]
        tasks: list[dict[str, object]] = [{"name": name, "options": {}} for name in names]
        # What the callback spec allows besides: no options at all, a retry with only some fields, and
        # fields this runtime does not know (a newer SDK's), at every level.
        tasks += [
            {"name": "bare_fails", "from_the_future": 1},
            {"name": "retries_twice", "options": {"retry": {"max_retries": 2, "jitter": True}, "new": "x"}},
            {"name": "waits_only", "options": {"retry": {"wait_duration_ms": 50}}},
        ]
        status, body = call("POST", "/register-tasks", {"tasks": tasks, "sdk": "raw 9.9"})
        assert status == 200, body
        return
    _, task = call("GET", "/input")
    name = task["task_name"]  # type: ignore[index]
    args = json.loads(base64.b64decode(task["input"]))  # type: ignore[index]
    if name in ("bare_fails", "retries_twice", "waits_only"):
        call("POST", "/callback", {"error": {"details": f"RuntimeError: {name} fails on purpose"}})
        return
    if name == "identity":
        result: object = {key: value for key, value in task.items() if key != "input"}  # type: ignore[union-attr]
    elif name == "parent_of_identity":
        _, body = call("POST", "/run-subtask", {"task_name": "identity", "input": b64([])})
        answer = wait_result(body["task_run_id"])  # type: ignore[index]
        result = json.loads(base64.b64decode(answer["complete"]["output"]))[0]  # type: ignore[index]
    elif name == "probe":
        result = probe()
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
