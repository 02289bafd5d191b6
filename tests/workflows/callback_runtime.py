"""A small stand-in for Render's runtime, for tests: real worker processes, real Unix sockets, real HTTP.

Each worker process (a registration or one task run attempt) gets its own socket, served with h11 as
``openapi/callback-api.yaml`` describes; ``GET /input`` also carries the run's identity (``task_run_id``,
``root_task_run_id``, ``parent_task_run_id``, ``attempt``). ``/run-subtask`` starts another real worker
process for the subtask (deduplicated on ``idempotency_key`` + ``created_at``) and ``/get-subtask-result``
reports its callback, so fan-out and nested subtasks run end to end. Every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h11
from render_sdk_callback_api.models import (
    CallbackRequest,
    RunSubtaskRequest,
    SubtaskResultRequest,
    TaskInput,
    Tasks,
)

from render_sdk._protocol.wire import WireError, decode_payload, encode_payload, from_wire, to_wire

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples" / "workflows"
WORKERS = Path(__file__).resolve().parent / "workers"
PROCESS_DEADLINE_SECONDS = 60.0


def worker_env(**extra: str) -> dict[str, str]:
    """The test environment, with the SDK and the generated packages importable."""
    env = dict(os.environ)
    paths = [str(REPO_ROOT), str(REPO_ROOT / "generated")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.pop("RENDER_SDK_MODE", None)
    env.pop("RENDER_SDK_SOCKET_PATH", None)
    env.update(extra)
    return env


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Attempt:
    """One worker process and everything it said over its socket."""

    task_run_id: str
    mode: str
    task_name: str | None
    input_payload: str | None
    socket_path: str
    parent: Attempt | None = None
    requests: list[Request] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    finished: asyncio.Future[None] | None = None

    @property
    def callback(self) -> dict[str, Any]:
        assert len(self.callbacks) == 1, f"expected one callback, got {self.callbacks}\n{self.stderr}"
        return self.callbacks[0]

    @property
    def result(self) -> Any:
        """The decoded output array of a successful run."""
        assert "complete" in self.callback, f"run failed: {self.callback}\n{self.stderr}"
        return decode_payload(self.callback["complete"]["output"])

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]

    @property
    def root(self) -> Attempt:
        return self if self.parent is None else self.parent.root

    def identity(self) -> dict[str, Any]:
        """The run's identity as ``GET /input`` carries it (no parent id for a root run); one attempt each."""
        identity = {"task_run_id": self.task_run_id, "root_task_run_id": self.root.task_run_id, "attempt": 0}
        if self.parent is not None:
            identity["parent_task_run_id"] = self.parent.task_run_id
        return identity


class CallbackRuntime:
    """Starts worker processes with ``command`` in ``cwd`` and answers their callback requests.

    Args:
        socket_dir: A short directory for the sockets (Unix socket paths are limited to ~100 bytes).
        command: The worker's start command.
        cwd: Where to start it.
        faults: For a path, HTTP statuses to answer the top-level worker before answering normally (0 closes
            the connection without an answer). Subtask workers are answered normally.
        env: Extra environment variables for the workers.
    """

    def __init__(
        self,
        socket_dir: Path,
        command: Sequence[str],
        cwd: Path,
        *,
        faults: Mapping[str, Sequence[int]] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.socket_dir = socket_dir
        self.command = list(command)
        self.cwd = cwd
        self.faults = {path: list(statuses) for path, statuses in (faults or {}).items()}
        self.env = dict(env or {})
        self.attempts: dict[str, Attempt] = {}
        self.registrations: list[dict[str, Any]] = []
        self.subtask_submissions: list[dict[str, Any]] = []
        self._by_idempotency: dict[tuple[str, str], str] = {}
        self._ids = itertools.count(1)
        self._servers: list[asyncio.AbstractServer] = []
        self._processes: list[asyncio.subprocess.Process] = []
        self._background: set[asyncio.Future[None]] = set()

    async def __aenter__(self) -> CallbackRuntime:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.gather(*self._background, return_exceptions=True)
        for process in self._processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
        for server in self._servers:
            server.close()
            await server.wait_closed()

    async def register(self) -> Attempt:
        """Run the worker in register mode and wait for it to exit."""
        attempt = await self._start("register", None, None)
        await self.wait(attempt)
        return attempt

    async def run(self, task_name: str, input_value: Any = None, *, raw_input: str | None = None) -> Attempt:
        """Run one task in a worker process and wait for the process to exit."""
        payload = (
            raw_input if raw_input is not None else encode_payload([] if input_value is None else input_value)
        )
        attempt = await self._start("run", task_name, payload)
        await self.wait(attempt)
        return attempt

    async def wait(self, attempt: Attempt) -> None:
        assert attempt.finished is not None
        await asyncio.wait_for(asyncio.shield(attempt.finished), PROCESS_DEADLINE_SECONDS)

    def children(self, attempt: Attempt) -> list[Attempt]:
        return [child for child in self.attempts.values() if child.parent is attempt]

    async def _start(
        self, mode: str, task_name: str | None, payload: str | None, parent: Attempt | None = None
    ) -> Attempt:
        task_run_id = f"trn-{next(self._ids)}"
        socket_path = str(self.socket_dir / f"{task_run_id}.sock")
        attempt = Attempt(task_run_id, mode, task_name, payload, socket_path, parent)
        self.attempts[task_run_id] = attempt
        await self._listen_and_spawn(attempt)
        return attempt

    async def _listen_and_spawn(self, attempt: Attempt) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve_connection(attempt, reader, writer)

        server = await asyncio.start_unix_server(handle, path=attempt.socket_path, backlog=1024)
        self._servers.append(server)
        await self.spawn(attempt)

    async def spawn(self, attempt: Attempt) -> None:
        """Start the worker process for ``attempt`` (already listening on its socket)."""
        env = worker_env(RENDER_SDK_MODE=attempt.mode, RENDER_SDK_SOCKET_PATH=attempt.socket_path, **self.env)
        process = await asyncio.create_subprocess_exec(
            *self.command,
            cwd=self.cwd,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._processes.append(process)

        async def collect() -> None:
            stdout, stderr = await process.communicate()
            attempt.stdout, attempt.stderr = stdout.decode(), stderr.decode()
            attempt.returncode = process.returncode

        attempt.finished = asyncio.ensure_future(collect())

    async def _serve_connection(
        self, attempt: Attempt, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connection = h11.Connection(our_role=h11.SERVER)
        request: h11.Request | None = None
        body = bytearray()
        try:
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(await reader.read(65_536))
                elif isinstance(event, h11.Request):
                    request = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    return
            assert request is not None
            path = request.target.decode()
            headers = {name.decode().lower(): value.decode() for name, value in request.headers}
            parsed = json.loads(body) if body else None
            attempt.requests.append(Request(request.method.decode(), path, headers, parsed))
            faults = self.faults.get(path) if attempt.parent is None else None
            if faults:
                status = faults.pop(0)
                if status == 0:
                    return
                answer: Any = {"message": f"injected fault {status}"}
            else:
                status, answer = self._route(attempt, path, parsed)
            payload = b"" if answer is None else json.dumps(answer).encode()
            response_headers = [("Content-Length", str(len(payload))), ("Connection", "close")]
            if answer is not None:
                response_headers.append(("Content-Type", "application/json"))
            outgoing = connection.send(h11.Response(status_code=status, headers=response_headers))
            if payload:
                outgoing += connection.send(h11.Data(data=payload))
            outgoing += connection.send(h11.EndOfMessage())
            writer.write(outgoing)
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _route(self, attempt: Attempt, path: str, body: Any) -> tuple[int, Any]:
        try:
            if path == "/input":
                assert attempt.task_name is not None and attempt.input_payload is not None
                answer = to_wire(TaskInput(task_name=attempt.task_name, input=attempt.input_payload))
                return 200, {**answer, **attempt.identity()}
            if path == "/register-tasks":
                from_wire(Tasks, body)
                self.registrations.append(body)
                return 200, None
            if path == "/callback":
                callback = from_wire(CallbackRequest, body)
                if (callback.complete is None) == (callback.error is None):
                    return 400, {"message": "exactly one of complete or error"}
                attempt.callbacks.append(body)
                return 200, None
            if path == "/run-subtask":
                return self._run_subtask(attempt, from_wire(RunSubtaskRequest, body))
            if path == "/get-subtask-result":
                return self._subtask_result(from_wire(SubtaskResultRequest, body).task_run_id)
        except WireError as exc:
            return 400, {"message": str(exc)}
        return 404, {"message": f"no endpoint {path}"}

    def _run_subtask(self, parent: Attempt, request: RunSubtaskRequest) -> tuple[int, Any]:
        self.subtask_submissions.append(to_wire(request))
        if request.idempotency_key is None or request.created_at is None:
            return 400, {"message": "idempotency_key and created_at are required"}
        key = (request.idempotency_key, request.created_at)
        if key in self._by_idempotency:
            return 200, {"task_run_id": self._by_idempotency[key]}
        known = {task["name"] for registration in self.registrations for task in registration["tasks"]}
        if self.registrations and request.task_name not in known:
            return 404, {"message": f"no task named {request.task_name!r}"}
        task_run_id = f"trn-{next(self._ids)}"
        self._by_idempotency[key] = task_run_id
        socket_path = str(self.socket_dir / f"{task_run_id}.sock")
        child = Attempt(task_run_id, "run", request.task_name, request.input or "", socket_path, parent)
        self.attempts[task_run_id] = child
        # Started in the background: the answer must not wait for the child's process to spawn.
        self._background.add(asyncio.ensure_future(self._listen_and_spawn(child)))
        return 200, {"task_run_id": task_run_id}

    def _subtask_result(self, task_run_id: str) -> tuple[int, Any]:
        child = self.attempts.get(task_run_id)
        if child is None or child.parent is None:
            return 404, {"message": f"no task run {task_run_id}"}
        if child.callbacks:
            return 200, {"still_running": False, **child.callbacks[0]}
        if child.returncode is not None:
            details = f"worker exited with status {child.returncode} without a callback"
            return 200, {"still_running": False, "error": {"details": details}}
        return 200, {"still_running": True}


def python_command(*args: str) -> list[str]:
    return [sys.executable, *args]
