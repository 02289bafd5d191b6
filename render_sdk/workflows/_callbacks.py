"""The callback API (openapi/callback-api.yaml) as typed calls, and subtasks submitted through it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone
from typing import Any

from render_sdk_callback_api.models import (
    CallbackRequest,
    RunSubtaskRequest,
    RunSubtaskResponse,
    SubtaskResultRequest,
    SubtaskResultResponse,
    TaskInput,
)

from render_sdk._protocol.wire import WireError, decode_payload, encode_payload, from_wire, to_wire
from render_sdk.client.errors import RenderError, TaskRunError
from render_sdk.workflows._socket_transport import SocketTransport
from render_sdk.workflows._task import Task, TaskInstance, TaskRunMetadata

__all__ = ["CallbackClient", "SocketSubtaskRunner", "run_metadata"]

FIRST_POLL_SECONDS = 0.01
MAX_POLL_SECONDS = 1.0


class CallbackClient:
    """One method per callback endpoint; bodies are the generated callback models."""

    def __init__(self, transport: SocketTransport) -> None:
        self.transport = transport

    async def get_input(self) -> tuple[TaskInput, TaskRunMetadata]:
        """The run's task name and input, and who the run is (:func:`run_metadata`).

        Raises:
            WireError: The answer does not match the spec.
        """
        answer = await self.transport.request("get input", "GET", "/input")
        task_input: TaskInput = from_wire(TaskInput, answer, "GET /input answer")
        return task_input, run_metadata(task_input)

    async def post_callback(self, callback: CallbackRequest) -> None:
        await self.transport.request("post callback", "POST", "/callback", to_wire(callback))

    async def run_subtask(self, request: RunSubtaskRequest) -> str:
        answer = await self.transport.request("run subtask", "POST", "/run-subtask", to_wire(request))
        response: RunSubtaskResponse = from_wire(RunSubtaskResponse, answer, "POST /run-subtask answer")
        return response.task_run_id

    async def get_subtask_result(self, task_run_id: str) -> SubtaskResultResponse:
        body = to_wire(SubtaskResultRequest(task_run_id=task_run_id))
        answer = await self.transport.request("get subtask result", "POST", "/get-subtask-result", body)
        result: SubtaskResultResponse = from_wire(
            SubtaskResultResponse, answer, "POST /get-subtask-result answer"
        )
        return result


class SocketSubtaskRunner:
    """Submits subtasks of the running task through the callback API and polls for their results."""

    def __init__(self, client: CallbackClient) -> None:
        self.client = client
        self._calls: list[tuple[asyncio.Future[None], asyncio.Future[Any]]] = []

    def start_subtask(
        self, task: Task[Any, Any], input_value: list[Any] | dict[str, Any]
    ) -> TaskInstance[Any]:
        # Made once per call, so a retried submission is recognised as the same one.
        request = RunSubtaskRequest(
            task_name=task.name,
            input=encode_payload(input_value),
            idempotency_key=str(uuid.uuid4()),
            created_at=datetime.now(timezone.utc).isoformat(),
        )
        submitted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        outcome = asyncio.ensure_future(self._submit_and_wait(request, submitted))
        self._calls.append((submitted, outcome))
        return TaskInstance(task.name, outcome)

    async def settle(self) -> None:
        """Let every submission finish, then stop waiting for results nobody awaited.

        Called when the task body is done, so the process never exits with a subtask half-submitted.
        """
        for submitted, outcome in self._calls:
            if not outcome.done():
                await asyncio.wait([submitted])
                outcome.cancel()
            elif not outcome.cancelled():
                outcome.exception()  # Retrieved: an un-awaited failure is not "never retrieved".

    async def _submit_and_wait(self, request: RunSubtaskRequest, submitted: asyncio.Future[None]) -> Any:
        try:
            task_run_id = await self.client.run_subtask(request)
        finally:
            submitted.set_result(None)
        return await self._wait_for_result(request.task_name, task_run_id)

    async def _wait_for_result(self, task_name: str, task_run_id: str) -> Any:
        # Subtasks often finish in milliseconds, so look early, then back off to a modest steady rate.
        delay = FIRST_POLL_SECONDS
        while True:
            await asyncio.sleep(delay)
            answer = await self.client.get_subtask_result(task_run_id)
            if answer.error is not None:
                raise TaskRunError(
                    f"subtask {task_name!r} ({task_run_id}) failed: {answer.error.details}",
                    error=answer.error.details,
                    body=to_wire(answer.error),
                )
            if answer.complete is not None:
                return _unwrap(task_name, task_run_id, answer.complete.output)
            if not answer.still_running:
                raise RenderError(
                    f"subtask {task_name!r} ({task_run_id}): get-subtask-result answered neither "
                    "still_running, complete nor error"
                )
            delay = min(delay * 2, MAX_POLL_SECONDS)


def run_metadata(task_input: TaskInput) -> TaskRunMetadata:
    """The run's identity from a ``GET /input`` answer; what the runtime leaves out (older ones send no ids,
    Render sends no attempt) or sends empty is None.

    Raises:
        WireError: The attempt is negative.
    """
    attempt = task_input.attempt
    if attempt is not None and attempt < 0:
        raise WireError(f"GET /input answer.attempt must be an int >= 0, got {attempt!r}")
    return TaskRunMetadata(
        task_run_id=task_input.task_run_id or None,
        root_task_run_id=task_input.root_task_run_id or None,
        parent_task_run_id=task_input.parent_task_run_id or None,
        task_name=task_input.task_name,
        attempt=attempt,
    )


def _unwrap(task_name: str, task_run_id: str, output: str) -> Any:
    value = decode_payload(output, f"subtask {task_name!r} output")
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    raise RenderError(
        f"subtask {task_name!r} ({task_run_id}) output is {value!r}; expected a one-element JSON array "
        "holding the return value"
    )
