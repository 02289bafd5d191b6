"""The worker callback API of one attempt (``openapi/callback-api.yaml``), served on that attempt's socket.

Bodies are parsed into and produced from the generated dataclasses in ``render_sdk_callback_api.models``.
Permanent subtask errors get 4xx ``{"message"}`` (never 500, which the official SDK retries for five minutes).

``POST /get-subtask-result`` for a subtask still in progress is held until the subtask is final, for up to
:data:`RESULT_HOLD_SECONDS` (well below every SDK's 15 s request timeout), then answered ``still_running``.
Workers poll with pauses (ours from 10 ms up to 1 s, the official SDKs every second), so without the hold each
subtask's result would arrive up to a pause late; with it, the answer goes out as the subtask finishes.

An attempt whose request finds its subtask unfinished is parked (:mod:`~render_sdk.local.attempts.slots`): it
gives its concurrency slot up while it waits, and a finished result is answered only once it holds a slot
again (within the same hold, else the answer is ``still_running`` and the next poll tries again). When one of
its requests resumes it, its other held requests are answered ``still_running`` at once: it is running code
again, and the next poll of each parks it again if it still has to wait.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from render_sdk_callback_api.models import (
    CallbackRequest,
    RunSubtaskRequest,
    RunSubtaskResponse,
    SubtaskResultRequest,
    SubtaskResultResponse,
    TaskComplete,
    TaskError,
    TaskInput,
)

from render_sdk._protocol.strict_json import InvalidJSON, loads
from render_sdk._protocol.wire import WireError, decode_payload, encode_payload, from_wire, to_wire
from render_sdk._protocol.worker_env import MODE_VARIABLE
from render_sdk.local.attempts.slots import AttemptSlot
from render_sdk.local.attempts.socket_server import HttpError, Reply
from render_sdk.local.engine.errors import Conflict, EngineError, NotFound
from render_sdk.local.engine.records import TERMINAL_STATUSES, RunRecord
from render_sdk.local.engine.states import RunStates
from render_sdk.local.engine.store import Store

__all__ = ["RESULT_HOLD_SECONDS", "AttemptEndpoint"]

RESULT_HOLD_SECONDS = 5.0


class AttemptEndpoint:
    """Answers the callback API for attempt ``attempt`` of ``run``: wire bodies in, transitions out.

    What the worker reports goes to the state machine, which announces it; this endpoint tells nobody else.
    """

    def __init__(
        self, run: RunRecord, attempt: int, store: Store, states: RunStates, slot: AttemptSlot
    ) -> None:
        self._run = run
        self.run_id = run.id
        self.attempt = attempt
        self._store = store
        self._states = states
        self._slot = slot

    async def __call__(self, method: str, path: str, body: bytes) -> Reply:
        try:
            return await self._route(method, path, body)
        except sqlite3.Error as exc:  # a full disk, say: the worker retries a 503, and nothing is lost
            raise HttpError(
                503, f"the local runtime could not write to its database ({exc}); try again"
            ) from exc

    async def _route(self, method: str, path: str, body: bytes) -> Reply:
        route = (method, path.split("?", 1)[0])
        if route == ("GET", "/input"):
            return self._input()
        if route == ("POST", "/callback"):
            try:
                return self._callback(_parse(CallbackRequest, body))
            except HttpError as exc:
                self.refused(path, exc.message)
                raise
        if route == ("POST", "/run-subtask"):
            return self._run_subtask(_parse(RunSubtaskRequest, body))
        if route == ("POST", "/get-subtask-result"):
            return await self._subtask_result(_parse(SubtaskResultRequest, body))
        if route == ("POST", "/register-tasks"):
            raise HttpError(
                409, f"this process was started to run a task ({MODE_VARIABLE}=run), not to register"
            )
        raise HttpError(404, f"{method} {path} is not part of the callback API")

    def refused(self, path: str, message: str) -> None:
        """A request was refused; if it was the worker's report, the attempt fails saying why.

        Otherwise the report would be lost and the run blamed on the worker's exit ("exited with status 0
        before reporting a result").
        """
        if path.split("?", 1)[0] == "/callback":
            refusal = f"the worker's report was refused by the local runtime: {message}"
            self._states.fail_attempt(self.run_id, self.attempt, refusal)

    def _input(self) -> Reply:
        run = self._run  # what the input names never changes
        task_input = TaskInput(
            task_name=run.task_name,
            input=encode_payload(run.input),
            task_run_id=run.id,
            root_task_run_id=run.root_id,
            parent_task_run_id=run.parent_id,
            attempt=self.attempt,
        )
        return Reply(200, to_wire(task_input))

    def _callback(self, request: CallbackRequest) -> Reply:
        if (request.complete is None) == (request.error is None):
            raise HttpError(400, "body must have exactly one of complete or error")
        if request.complete is not None:
            try:
                results = decode_payload(request.complete.output, "complete.output")
            except WireError as exc:
                raise HttpError(400, str(exc)) from exc
            # The output is the task's results array; an empty output means the task returned nothing.
            if results is None:
                results = []
            elif not isinstance(results, list):
                results = [results]
            self._states.complete_attempt(self.run_id, self.attempt, results)
        else:
            assert request.error is not None
            details = request.error.details
            if request.error.stack_trace:
                details = f"{details}\n{request.error.stack_trace}"
            self._states.fail_attempt(self.run_id, self.attempt, details)
        return Reply(200)

    def _run_subtask(self, request: RunSubtaskRequest) -> Reply:
        try:
            input_value = decode_payload(request.input, "input")
        except WireError as exc:
            raise HttpError(400, str(exc)) from exc
        if input_value is None:
            input_value = []
        if not isinstance(input_value, (list, dict)):
            raise HttpError(400, f"input must be a JSON array or object, got {type(input_value).__name__}")
        idempotency = None
        if request.idempotency_key:
            idempotency = (request.idempotency_key, request.created_at or "")
        try:
            run, _ = self._states.create_subtask(
                self.run_id, self.attempt, request.task_name, input_value, idempotency
            )
        except EngineError as exc:
            raise _http_error(exc) from exc
        return Reply(200, to_wire(RunSubtaskResponse(task_run_id=run.id)))

    async def _subtask_result(self, request: SubtaskResultRequest) -> Reply:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RESULT_HOLD_SECONDS
        run = self._store.get_run(request.task_run_id)
        # A worker sees only its own subtasks' results, not any run whose id it learned or guessed.
        if run is None or run.parent_id != self.run_id:
            raise HttpError(404, f"task run {request.task_run_id} is not a subtask of run {self.run_id}")
        if run.status not in TERMINAL_STATUSES:
            self._slot.park()
            resumed = self._slot.next_resume()
            run = await self._states.wait_final(run.id, RESULT_HOLD_SECONDS, interrupt=resumed)
        if run is None or run.status not in TERMINAL_STATUSES:
            return Reply(200, to_wire(SubtaskResultResponse(still_running=True)))
        if not await self._slot.resume(max(0.0, deadline - loop.time())):
            return Reply(200, to_wire(SubtaskResultResponse(still_running=True)))
        if run.status == "completed":
            output = encode_payload(run.results if run.results is not None else [])
            response = SubtaskResultResponse(still_running=False, complete=TaskComplete(output=output))
        elif run.status == "failed":
            response = SubtaskResultResponse(
                still_running=False, error=TaskError(details=run.error or f"task run {run.id} failed")
            )
        elif run.status == "canceled":
            response = SubtaskResultResponse(
                still_running=False,
                error=TaskError(details=f"task run {run.id} ({run.task_name}) was canceled"),
            )
        else:
            raise AssertionError(f"unexpected final status {run.status!r}")
        return Reply(200, to_wire(response))


def _http_error(error: EngineError) -> HttpError:
    status = 404 if isinstance(error, NotFound) else 409 if isinstance(error, Conflict) else 400
    return HttpError(status, error.message)


def _parse(model: type[Any], body: bytes) -> Any:
    try:
        return from_wire(model, loads(body or b"null"), "body")
    except (InvalidJSON, WireError) as exc:
        raise HttpError(400, f"malformed {model.__name__}: {exc}") from None
