"""The synchronous twin of :class:`Render`: :class:`RenderSync`, its ``workflows`` service and
:class:`SyncTaskRun`. Same methods, same shared cores (``_operations``, ``_request_core``,
``_stream_cursor``); only the I/O blocks.

Waiting differs in one way: a blocking ``wait()`` follows its own event stream, since threads that wait at
the same time cannot share one blocking read. Each stream is subscribed to one run and closed when it ends.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

import httpx
from httpx_sse import connect_sse

from render_sdk.client import _operations as ops
from render_sdk.client import _request_core as core
from render_sdk.client._client_base import ClientBase, ServiceBase, StartedRunBase
from render_sdk.client._stream_cursor import StreamCursor
from render_sdk.client._waiting import (
    STREAM_ERRORS,
    EventsUnavailable,
    Finished,
    StreamFailure,
    classify_stream_error,
    ended_by_terminal,
    outcome,
)
from render_sdk.client.errors import RenderError, TimeoutError
from render_sdk.client.types import (
    ListTaskRunsParams,
    ListTasksParams,
    Page,
    Task,
    TaskInput,
    TaskRun,
    TaskRunDetails,
    TaskRunEvent,
)

if TYPE_CHECKING:
    from render_sdk_public_api import Client as ApiClient

__all__ = ["RenderSync", "SyncTaskRun", "WorkflowsServiceSync"]

logger = logging.getLogger("render_sdk.client")
Result = TypeVar("Result")
Item = TypeVar("Item")


class RenderSync(ClientBase[httpx.BaseTransport]):
    """Synchronous client for Render's API: ``render.workflows.run_task(...).wait()``.

    Takes the same arguments as :class:`Render` (``transport`` is a sync ``httpx.BaseTransport``).

    Raises:
        ValueError: No API key for Render's cloud, or an unusable setting.
    """

    def _open(self, transport: httpx.BaseTransport | None) -> None:
        self._http = httpx.Client(transport=transport, **core.client_kwargs(self._config))
        # A client dropped without close() still closes its sockets rather than leaking them.
        weakref.finalize(self, self._http.close)
        #: Every pause (retry backoff, reconnect backoff, polling) goes through here; tests replace it.
        self._sleep: Callable[[float], object] = time.sleep
        self.workflows = WorkflowsServiceSync(self)

    @property
    def api_client(self) -> ApiClient:
        """The generated low-level client (``render_sdk_public_api``) sharing this client's connections."""
        client = self._new_api_client()
        client.set_httpx_client(self._http)
        return client

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> RenderSync:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _request(self, operation: ops.Operation[Result], max_retries: int | None = None) -> Result:
        """Carry out the steps of :class:`render_sdk.client._request_core.RequestPlan`, blocking."""
        plan = core.RequestPlan(operation, self._config.retries(max_retries))
        for step in plan:
            if isinstance(step, core.Pause):
                self._sleep(step.seconds)
                continue
            try:
                plan.answer(self._http.send(self._http.build_request(**step.args)))
            except core.HTTPX_ERRORS as exc:
                plan.answer(exc)
        return plan.result


class WorkflowsServiceSync(ServiceBase[RenderSync]):
    """Task runs and tasks, blocking: ``render.workflows`` of a :class:`RenderSync`."""

    def run_task(
        self, task_identifier: str, input_data: TaskInput, *, idempotency_key: str | None = None
    ) -> SyncTaskRun:
        """Start a run; call ``.wait()`` on the result to block until it finishes (see ``Render``)."""
        operation = ops.create_task_run(task_identifier, input_data, idempotency_key)
        return SyncTaskRun(self, self._render._request(operation))

    def start_task(
        self, task_identifier: str, input_data: TaskInput, *, idempotency_key: str | None = None
    ) -> SyncTaskRun:
        """The render 1.x name of :meth:`run_task`."""
        return self.run_task(task_identifier, input_data, idempotency_key=idempotency_key)

    def get_task_run(self, task_run_id: str) -> TaskRunDetails:
        """The run with its input, results and attempts."""
        return self._render._request(ops.get_task_run(task_run_id))

    def cancel_task_run(self, task_run_id: str) -> None:
        """Ask the API to cancel the run."""
        self._render._request(ops.cancel_task_run(task_run_id))

    def list_task_runs(self, params: ListTaskRunsParams | None = None) -> Page[TaskRun]:
        """One page of runs; ``page.next_cursor`` continues."""
        return self._render._request(ops.list_task_runs(params))

    def iter_task_runs(self, params: ListTaskRunsParams | None = None) -> Iterator[TaskRun]:
        """Every run matching ``params``, walking all pages."""
        yield from self._walk(ops.list_task_runs, params or ListTaskRunsParams())

    def list_tasks(self, params: ListTasksParams | None = None) -> Page[Task]:
        """One page of tasks."""
        return self._render._request(ops.list_tasks(params))

    def iter_tasks(self, params: ListTasksParams | None = None) -> Iterator[Task]:
        """Every task matching ``params``, walking all pages."""
        yield from self._walk(ops.list_tasks, params or ListTasksParams())

    def _walk(
        self, list_page: Callable[[ops.Params], ops.Operation[Page[Item]]], params: ops.Params
    ) -> Iterator[Item]:
        page_params: ops.Params | None = ops.first_page(params)
        while page_params is not None:
            page = self._render._request(list_page(page_params))
            yield from page
            page_params = ops.next_page(page_params, page)

    def get_task(self, task_id: str) -> Task:
        """A task by id (``tsk-...``)."""
        return self._render._request(ops.get_task(task_id))

    def wait_for_task_run(self, task_run_id: str, timeout: float | None = None) -> TaskRunDetails:
        """Block until a run (started anywhere) finishes, and return its details (see ``Render``)."""
        ops.check_task_run_id(task_run_id)
        details, event = self._finished(task_run_id, timeout, look_first=True)
        return outcome(details, event)

    def task_run_events(self, task_run_ids: Sequence[str]) -> Iterator[TaskRunEvent]:
        """The events of the given runs as they happen, ending once every run has ended (see ``Render``)."""
        render = self._render
        cursor = StreamCursor(render._config, ops.check_task_run_ids(task_run_ids))
        ops.events_query(task_run_ids)  # too many ids fail here, before the first connection
        while not cursor.done:
            failure: Exception | None = None
            try:
                with connect_sse(render._http, **cursor.connect_args()) as source:
                    if not source.response.is_success:
                        source.response.read()
                    cursor.opened(source.response)
                    for sse in source.iter_sse():
                        event = cursor.read(sse)
                        if event is not None:
                            yield event
                            if cursor.ends_run(event) and cursor.done:
                                return
            except STREAM_ERRORS as exc:
                failure = exc
            render._sleep(cursor.pause_after(failure))

    # ---- waiting ------------------------------------------------------------------------------------------

    def _finished(self, task_run_id: str, timeout: float | None, *, look_first: bool) -> Finished:
        ops.check_timeout(timeout)
        deadline = _Deadline(task_run_id, timeout)
        cursor = StreamCursor(self._render._config, [task_run_id])
        found = self._look_up(task_run_id) if look_first else None
        while found is None:
            deadline.check()
            if self._render._traits.events_unavailable:
                self._render._sleep(deadline.bounded(self._render._config.poll_interval))
                found = self._look_up(task_run_id)
                continue
            try:
                try:
                    found = self._follow(cursor, deadline)
                    if found is not None:
                        return found
                    pause = cursor.pause_after(None)
                except STREAM_ERRORS as exc:
                    pause = cursor.pause_after(exc)
            except EventsUnavailable as exc:
                logger.info("task run events unavailable (%s); waiting by polling GET", exc)
                self._render._traits.events_unavailable = True
                found = self._look_up(task_run_id)
                continue
            deadline.check()
            found = self._look_up(task_run_id)
            if found is None:
                self._render._sleep(deadline.bounded(pause))
        return found

    def _follow(self, cursor: StreamCursor, deadline: _Deadline) -> Finished | None:
        """One connection: the finish if it was seen, else None when the stream ended.

        Raises:
            One of STREAM_ERRORS, or RenderError: see :meth:`StreamCursor.pause_after`.
        """
        render = self._render
        read_timeout = deadline.bounded(render._config.timeouts.stream_idle, at_least=0.001)
        with connect_sse(render._http, **cursor.connect_args(read_timeout)) as source:
            if not source.response.is_success:
                source.response.read()
            cursor.opened(source.response)
            (task_run_id,) = cursor.pending
            # Anything that finished before this connection existed is only visible to a GET.
            found = self._look_up(task_run_id, on_connect=True)
            if found is not None:
                return found
            for sse in source.iter_sse():
                event = cursor.read(sse)
                if event is not None and cursor.ends_run(event):
                    return event.details, event.event
        return None

    def _look_up(self, task_run_id: str, *, on_connect: bool = False) -> Finished | None:
        """The run if one GET (no retries) finds it finished; None if it is not, or the API is unreachable.

        Raises:
            StreamFailure: ``on_connect`` and the GET failed transiently: the connection counts as failed.
            RenderError: A definite answer (e.g. 404).
        """
        try:
            details = self._render._request(ops.get_task_run(task_run_id), max_retries=0)
        except RenderError as exc:
            meaning = classify_stream_error(exc)
            if not isinstance(meaning, StreamFailure):
                raise
            if on_connect:
                raise meaning from exc
            return None
        return (details, None) if ended_by_terminal(details) else None


class SyncTaskRun(StartedRunBase[WorkflowsServiceSync]):
    """A started run: ``id`` and ``status`` at once, ``wait()`` blocks for the finished run's details.

    ``wait()`` returns :class:`TaskRunDetails` when the run succeeded, and raises :class:`TaskRunError` when
    it failed or :class:`TaskRunCanceledError` when it was canceled.
    """

    def wait(self, timeout: float | None = None) -> TaskRunDetails:
        """Block until the run finishes; ``timeout`` in seconds, None for no limit.

        Raises:
            TaskRunError: The run failed (``TaskRunCanceledError`` if it was canceled).
            TimeoutError: ``timeout`` seconds passed first; the run goes on.
        """
        if self._finished is not None:
            return outcome(*self._finished)
        return self._settle(self._workflows._finished(self.id, timeout, look_first=self._over_when_started))

    def refresh(self) -> TaskRunDetails:
        """Fetch the run's current details (never raises for a failed run) and update ``status``."""
        return self._refreshed(self._workflows.get_task_run(self.id))

    def cancel(self) -> None:
        """Ask the API to cancel this run."""
        self._workflows.cancel_task_run(self.id)


class _Deadline:
    """A wait's own ``timeout``: the only thing that ends a wait besides the run's end or a definite error."""

    def __init__(self, task_run_id: str, timeout: float | None) -> None:
        self._task_run_id = task_run_id
        self._timeout = timeout
        self._at = None if timeout is None else time.monotonic() + timeout

    def check(self) -> None:
        """Raise TimeoutError once the deadline has passed."""
        if self._at is not None and time.monotonic() >= self._at:
            raise TimeoutError(f"Task run {self._task_run_id} did not finish within {self._timeout} s")

    def bounded(self, seconds: float, at_least: float = 0.0) -> float:
        """``seconds``, or less so as to wake up at the deadline."""
        if self._at is None:
            return seconds
        return max(at_least, min(seconds, self._at - time.monotonic()))
