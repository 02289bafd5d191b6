"""Subtasks of an async task running in a worker: submitted over the callback socket, their results polled.

Render answers ``POST /get-subtask-result`` at once, while the local runtime holds it until the subtask is
final (for seconds). So each poll goes out a pause after the previous one started (10 ms after the submission
for the first, then doubling up to 1 s): after a held poll the next goes out at once, and a subtask that
keeps running is asked about less and less often. Hardly a subtask finishes within the first pause (its
worker has to start first), and that pause lets a task that does not await its subtask finish without
polling for it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from render_sdk.workflows._callbacks import (
    read_subtask_result,
    read_subtask_run_id,
    subtask_request,
    subtask_result_request,
)
from render_sdk.workflows._socket_transport import SocketTransport
from render_sdk.workflows._task import Task, TaskInstance

__all__ = ["FIRST_POLL_PAUSE_SECONDS", "MAX_POLL_PAUSE_SECONDS", "SocketSubtaskRunner"]

FIRST_POLL_PAUSE_SECONDS = 0.01
MAX_POLL_PAUSE_SECONDS = 1.0


class SocketSubtaskRunner:
    """Submits subtasks of the running task through the callback API and polls for their results."""

    def __init__(self, transport: SocketTransport) -> None:
        self.transport = transport
        self._calls: list[tuple[asyncio.Future[None], asyncio.Future[Any]]] = []

    def start_subtask(
        self, task: Task[Any, Any], input_value: list[Any] | dict[str, Any]
    ) -> TaskInstance[Any]:
        # Made once per call, so a retried submission is recognised as the same one.
        body = subtask_request(task.name, input_value)
        submitted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        outcome = asyncio.ensure_future(self._submit_and_wait(task.name, body, submitted))
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

    async def _submit_and_wait(
        self, task_name: str, body: dict[str, Any], submitted: asyncio.Future[None]
    ) -> Any:
        try:
            answer = await self.transport.request("run subtask", "POST", "/run-subtask", body)
        finally:
            submitted.set_result(None)
        return await self._wait_for_result(task_name, read_subtask_run_id(answer))

    async def _wait_for_result(self, task_name: str, task_run_id: str) -> Any:
        loop = asyncio.get_running_loop()
        body = subtask_result_request(task_run_id)
        pause = FIRST_POLL_PAUSE_SECONDS
        last = loop.time()
        while True:
            left = last + pause - loop.time()
            if left > 0:
                await asyncio.sleep(left)
            last = loop.time()
            answer = await self.transport.request("get subtask result", "POST", "/get-subtask-result", body)
            done, value = read_subtask_result(answer, task_name, task_run_id)
            if done:
                return value
            pause = min(pause * 2, MAX_POLL_PAUSE_SECONDS)
