"""The synchronous twin of :class:`Render`: :class:`RenderSync`, its ``workflows`` service and
:class:`SyncTaskRun`. Same methods, same shared rules (``_operations``, ``_transport``, ``_waiting``);
only the I/O blocks.

Waiting differs in one way: a blocking ``wait()`` follows its own event stream, since threads that wait at
the same time cannot share one blocking read. Each stream is subscribed to one run and closed when it ends.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from httpx_sse import SSEError, connect_sse

from render_sdk.client import _operations as ops
from render_sdk.client import _transport
from render_sdk.client._config import Timeouts, resolve_config
from render_sdk.client._waiting import (
    EventsUnavailable,
    Finished,
    ServerTraits,
    StreamFailure,
    classify_stream_error,
    ended_by_terminal,
    finishes_run,
    outcome,
    parse_event_or_skip,
    stream_error,
    transport_failure,
)
from render_sdk.client.errors import RenderError, ServerError, TimeoutError
from render_sdk.client.types import (
    ListTaskRunsParams,
    ListTasksParams,
    Page,
    Task,
    TaskRun,
    TaskRunDetails,
    TaskRunEvent,
    TaskRunStatus,
    is_terminal,
)

if TYPE_CHECKING:
    from render_sdk_public_api import Client as ApiClient

__all__ = ["RenderSync", "SyncTaskRun", "WorkflowsServiceSync"]

logger = logging.getLogger("render_sdk.client")
Result = TypeVar("Result")
Item = TypeVar("Item")


class RenderSync:
    """Synchronous client for Render's API: ``render.workflows.run_task(...).wait()``.

    Takes the same arguments as :class:`Render` (``transport`` is a sync ``httpx.BaseTransport``).

    Raises:
        ValueError: No API key for Render's cloud, or an unusable setting.
    """

    def __init__(
        self,
        token: str | None = None,
        base_url: str | None = None,
        *,
        max_retries: int = 3,
        timeouts: Timeouts | None = None,
        poll_interval: float = 2.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._config = resolve_config(
            token,
            base_url,
            max_retries=max_retries,
            timeouts=timeouts or Timeouts(),
            poll_interval=poll_interval,
        )
        self._http = httpx.Client(transport=transport, **_transport.client_kwargs(self._config))
        # A client dropped without close() still closes its sockets rather than leaking them.
        weakref.finalize(self, self._http.close)
        self._traits = ServerTraits()
        self.workflows = WorkflowsServiceSync(self)

    @property
    def base_url(self) -> str:
        """The API location, without ``/v1``."""
        return self._config.base_url

    @property
    def api_client(self) -> ApiClient:
        """The generated low-level client (``render_sdk_public_api``) sharing this client's connections."""
        from render_sdk_public_api import Client as ApiClient

        client = ApiClient(base_url=self._config.api_root)
        client.set_httpx_client(self._http)
        return client

    def __repr__(self) -> str:
        return f"RenderSync(base_url={self._config.base_url!r})"

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> RenderSync:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _request(self, operation: ops.Operation[Result]) -> Result:
        attempt = 0
        while True:
            cause: httpx.HTTPError | None = None
            hint = None
            try:
                response = self._http.send(self._http.build_request(**_transport.request_args(operation)))
            except httpx.HTTPError as exc:
                cause, error = exc, _transport.error_from_transport(operation.label, exc)
            else:
                if response.is_success:
                    result: Result = _transport.parse_success(operation, response)
                    return result
                error = _transport.error_from_response(operation.label, response)
                hint = _transport.retry_after(response)
            delay = _transport.retry_delay(operation, attempt, error, cause, self._config.max_retries, hint)
            if delay is None:
                raise error from cause
            logger.info("retrying %s in %.2f s after: %s", operation.label, delay, error)
            time.sleep(delay)
            attempt += 1


class WorkflowsServiceSync:
    """Task runs and tasks, blocking: ``render.workflows`` of a :class:`RenderSync`."""

    def __init__(self, render: RenderSync) -> None:
        self._render = render

    def __repr__(self) -> str:
        return f"WorkflowsServiceSync({self._render!r})"

    def run_task(
        self, task_identifier: str, input_data: list[Any] | tuple[Any, ...] | dict[str, Any]
    ) -> SyncTaskRun:
        """Start a run; call ``.wait()`` on the result to block until it finishes (see ``Render``)."""
        task_run = self._render._request(ops.create_task_run(task_identifier, input_data))
        return SyncTaskRun(self, task_run)

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
        """The events of the given runs as they happen, ending once every run has finished."""
        pending = set(ops.check_task_run_ids(task_run_ids))
        render = self._render
        last_event_id: str | None = None
        failures = 0
        while pending:
            headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
            try:
                try:
                    with connect_sse(
                        render._http,
                        "GET",
                        ops.EVENTS_PATH.lstrip("/"),
                        params=ops.events_query(sorted(pending)),
                        headers=headers,
                        timeout=_transport.stream_timeout(render._config),
                    ) as source:
                        if not source.response.is_success:
                            source.response.read()
                            raise stream_error(source.response)
                        for sse in source.iter_sse():
                            last_event_id = sse.id or last_event_id
                            event = parse_event_or_skip(sse)
                            if event is None:
                                continue
                            failures = 0
                            yield event
                            if finishes_run(event):
                                pending.discard(event.details.id)
                                if not pending:
                                    return
                except SSEError as exc:
                    raise RenderError(f"task run events: not an event stream: {exc}") from exc
                except httpx.HTTPError as exc:
                    raise transport_failure(exc) from exc
                raise StreamFailure("the event stream ended")
            except StreamFailure as exc:
                if failures >= render._config.max_retries:
                    raise ServerError(f"task run events: {exc}") from exc
                delay = exc.retry_after if exc.retry_after is not None else _transport.backoff(failures)
                failures += 1
                time.sleep(min(delay, _transport.MAX_DELAY))

    # ---- waiting ------------------------------------------------------------------------------------------

    def _finished(self, task_run_id: str, timeout: float | None, *, look_first: bool) -> Finished:
        ops.check_timeout(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        if look_first:
            details = self.get_task_run(task_run_id)
            if ended_by_terminal(details):
                return details, None
        failures = 0
        position = _Position()
        while True:
            if self._render._traits.events_unavailable:
                return self._poll(task_run_id, timeout, deadline)
            _check_deadline(task_run_id, timeout, deadline)
            try:
                finished = self._follow(task_run_id, deadline, position)
            except EventsUnavailable as exc:
                logger.info("task run events unavailable (%s); waiting by polling GET", exc)
                self._render._traits.events_unavailable = True
                continue
            except StreamFailure as exc:
                logger.info("task run event stream failed: %s", exc)
                _check_deadline(task_run_id, timeout, deadline)
                details = self.get_task_run(task_run_id)
                if ended_by_terminal(details):
                    return details, None
                delay = exc.retry_after if exc.retry_after is not None else _transport.backoff(failures)
                failures += 1
                time.sleep(_bounded(min(delay, _transport.MAX_DELAY), deadline))
                continue
            return finished

    def _follow(self, task_run_id: str, deadline: float | None, position: _Position) -> Finished:
        """One connection: returns the finish if seen, else raises why the stream ended."""
        render = self._render
        headers = {"Last-Event-ID": position.last_event_id} if position.last_event_id else {}
        idle = render._config.timeouts.stream_idle
        timeout = _transport.stream_timeout(render._config)
        if deadline is not None:
            # Wake up for the caller's deadline even when the stream is quiet.
            timeout = httpx.Timeout(
                connect=timeout.connect,
                read=max(0.001, min(idle, deadline - time.monotonic())),
                write=timeout.write,
                pool=timeout.pool,
            )
        try:
            with connect_sse(
                render._http,
                "GET",
                ops.EVENTS_PATH.lstrip("/"),
                params=ops.events_query([task_run_id]),
                headers=headers,
                timeout=timeout,
            ) as source:
                response = source.response
                if not response.is_success:
                    response.read()
                    raise classify_stream_error(_transport.error_from_response("task run events", response))
                # Anything that finished before this connection existed is only visible to a GET.
                details = self.get_task_run(task_run_id)
                if ended_by_terminal(details):
                    return details, None
                for sse in source.iter_sse():
                    position.last_event_id = sse.id or position.last_event_id
                    event = parse_event_or_skip(sse)
                    if event is not None and event.details.id == task_run_id and finishes_run(event):
                        return event.details, event.event
        except SSEError as exc:
            raise EventsUnavailable(f"the events endpoint answered without an event stream: {exc}") from exc
        except httpx.HTTPError as exc:
            raise transport_failure(exc) from exc
        raise StreamFailure("the event stream ended")

    def _poll(self, task_run_id: str, timeout: float | None, deadline: float | None) -> Finished:
        while True:
            details = self.get_task_run(task_run_id)
            if ended_by_terminal(details):
                return details, None
            _check_deadline(task_run_id, timeout, deadline)
            time.sleep(_bounded(self._render._config.poll_interval, deadline))


class SyncTaskRun:
    """A started run: ``id`` and ``status`` at once, ``wait()`` blocks for the finished run's details.

    ``wait()`` returns :class:`TaskRunDetails` when the run succeeded, and raises :class:`TaskRunError` when
    it failed or :class:`TaskRunCanceledError` when it was canceled.
    """

    def __init__(self, workflows: WorkflowsServiceSync, task_run: TaskRun) -> None:
        self._workflows = workflows
        self.task_run = task_run
        self._status: TaskRunStatus | str = task_run.status
        self._finished: Finished | None = None

    @property
    def id(self) -> str:
        """The run's id (``trn-...``)."""
        return self.task_run.id

    @property
    def status(self) -> TaskRunStatus | str:
        """The latest status this object has seen (from the start, a refresh or the finish)."""
        return self._status

    def wait(self, timeout: float | None = None) -> TaskRunDetails:
        """Block until the run finishes; ``timeout`` in seconds, None for no limit.

        Raises:
            TaskRunError: The run failed (``TaskRunCanceledError`` if it was canceled).
            TimeoutError: ``timeout`` seconds passed first; the run goes on.
        """
        if self._finished is None:
            finished = self._workflows._finished(self.id, timeout, look_first=is_terminal(self._status))
            self._finished = finished
            self._status = finished[0].status
        return outcome(*self._finished)

    def refresh(self) -> TaskRunDetails:
        """Fetch the run's current details (never raises for a failed run) and update ``status``."""
        details = self._workflows.get_task_run(self.id)
        self._status = details.status
        return details

    def cancel(self) -> None:
        """Ask the API to cancel this run."""
        self._workflows.cancel_task_run(self.id)

    def __repr__(self) -> str:
        return f"SyncTaskRun(id={self.id!r}, status={str(self._status)!r})"


class _Position:
    """Where a followed stream got to, kept across reconnects (sent back as ``Last-Event-ID``)."""

    last_event_id: str | None = None


def _check_deadline(task_run_id: str, timeout: float | None, deadline: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise TimeoutError(f"Task run {task_run_id} did not finish within {timeout} s")


def _bounded(seconds: float, deadline: float | None) -> float:
    if deadline is None:
        return seconds
    return max(0.0, min(seconds, deadline - time.monotonic()))
