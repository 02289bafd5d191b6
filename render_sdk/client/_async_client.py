"""The asynchronous client: :class:`Render`, its ``workflows`` service and :class:`AwaitableTaskRun`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from httpx_sse import SSEError, aconnect_sse

from render_sdk.client import _operations as ops
from render_sdk.client import _transport
from render_sdk.client._async_events import EventHub
from render_sdk.client._config import Timeouts, resolve_config
from render_sdk.client._waiting import (
    Finished,
    ServerTraits,
    StreamFailure,
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

__all__ = ["AwaitableTaskRun", "Render", "WorkflowsService"]

logger = logging.getLogger("render_sdk.client")
Result = TypeVar("Result")
Item = TypeVar("Item")


@dataclass
class _LoopState:
    # An httpx.AsyncClient's connections belong to the event loop that opened them, so each loop gets its
    # own (one Render object used from several asyncio.run() calls keeps working).
    loop: asyncio.AbstractEventLoop
    http: httpx.AsyncClient
    hub: EventHub
    closer: AsyncGenerator[None, None]


class Render:
    """Asynchronous client for Render's API: ``await render.workflows.run_task(...)``.

    Args:
        token: API key; defaults to the ``RENDER_API_KEY`` environment variable. A local server needs none.
        base_url: API location; defaults to ``RENDER_LOCAL_DEV_URL``, then ``http://localhost:8120`` when
            ``RENDER_USE_LOCAL_DEV`` is true, then ``https://api.render.com``. ``/v1`` is added once.
        max_retries: Retries for a failed request that is safe to repeat (0 disables retries).
        timeouts: Per-request timeouts and the event stream's idle limit.
        poll_interval: Seconds between GETs when waiting has to poll (no event stream on the server).
        transport: An httpx transport to send requests through (proxies, tests).

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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config = resolve_config(
            token,
            base_url,
            max_retries=max_retries,
            timeouts=timeouts or Timeouts(),
            poll_interval=poll_interval,
        )
        self._transport = transport
        self._state: _LoopState | None = None
        self._traits = ServerTraits()
        self.workflows = WorkflowsService(self)

    @property
    def base_url(self) -> str:
        """The API location, without ``/v1``."""
        return self._config.base_url

    @property
    def api_client(self) -> ApiClient:
        """The generated low-level client (``render_sdk_public_api``) sharing this client's connection pool.

        Use it with the generated ``api.workflows_beta`` functions for workflows and workflow versions. It
        must be used on the event loop that asked for it.
        """
        from render_sdk_public_api import Client as ApiClient

        client = ApiClient(base_url=self._config.api_root)
        client.set_async_httpx_client(self._loop_state().http)
        return client

    def __repr__(self) -> str:
        return f"Render(base_url={self._config.base_url!r})"

    async def aclose(self) -> None:
        """Close the connections; pending waits fail."""
        state, self._state = self._state, None
        if state is not None:
            await state.hub.aclose()
            await state.closer.aclose()

    async def __aenter__(self) -> Render:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._state is None or self._state.loop is not loop:
            http = httpx.AsyncClient(transport=self._transport, **_transport.client_kwargs(self._config))
            hub = EventHub(http, self._config, self.workflows.get_task_run, self._traits)
            self._state = _LoopState(loop, http, hub, _closed_with_loop(http))
        return self._state

    async def _request(self, operation: ops.Operation[Result]) -> Result:
        http = self._loop_state().http
        attempt = 0
        while True:
            cause: httpx.HTTPError | None = None
            hint = None
            try:
                response = await http.send(http.build_request(**_transport.request_args(operation)))
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
            await asyncio.sleep(delay)
            attempt += 1


async def _close_when_loop_ends(http: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await http.aclose()


def _closed_with_loop(http: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    """An async generator that closes ``http`` when the running event loop shuts down.

    ``Render()`` is commonly used without ``async with`` (the seed examples do). ``asyncio.run`` closes every
    suspended async generator of its loop before closing the loop, so starting this one here means the
    connections are closed while the loop can still do it, instead of leaking sockets.
    """
    closer = _close_when_loop_ends(http)
    with contextlib.suppress(StopIteration):
        # Runs to the `yield` without awaiting anything, and registers the generator with the running loop.
        closer.asend(None).send(None)
    return closer


class WorkflowsService:
    """Task runs and tasks: ``render.workflows``."""

    def __init__(self, render: Render) -> None:
        self._render = render

    def __repr__(self) -> str:
        return f"WorkflowsService({self._render!r})"

    async def run_task(
        self, task_identifier: str, input_data: list[Any] | tuple[Any, ...] | dict[str, Any]
    ) -> AwaitableTaskRun:
        """Start a run of ``task_identifier`` (``"workflow-slug/task-name"``) with ``input_data``.

        ``input_data`` is a list or tuple of positional arguments, or a dict of named ones. The returned run's
        ``id`` and ``status`` are there at once; ``await`` it for the finished run's details.

        Raises:
            TypeError, ValueError: Malformed identifier or input (before any request).
            ClientError, ServerError, TimeoutError: The API refused or could not be reached.
        """
        task_run = await self._render._request(ops.create_task_run(task_identifier, input_data))
        return AwaitableTaskRun(self, task_run)

    async def get_task_run(self, task_run_id: str) -> TaskRunDetails:
        """The run with its input, results and attempts."""
        return await self._render._request(ops.get_task_run(task_run_id))

    async def cancel_task_run(self, task_run_id: str) -> None:
        """Ask the API to cancel the run."""
        await self._render._request(ops.cancel_task_run(task_run_id))

    async def list_task_runs(self, params: ListTaskRunsParams | None = None) -> Page[TaskRun]:
        """One page of runs; pass ``page.next_cursor`` as ``ListTaskRunsParams(cursor=...)`` to continue."""
        return await self._render._request(ops.list_task_runs(params))

    async def iter_task_runs(self, params: ListTaskRunsParams | None = None) -> AsyncIterator[TaskRun]:
        """Every run matching ``params``, walking all pages."""
        async for task_run in self._walk(ops.list_task_runs, params or ListTaskRunsParams()):
            yield task_run

    async def list_tasks(self, params: ListTasksParams | None = None) -> Page[Task]:
        """One page of tasks."""
        return await self._render._request(ops.list_tasks(params))

    async def iter_tasks(self, params: ListTasksParams | None = None) -> AsyncIterator[Task]:
        """Every task matching ``params``, walking all pages."""
        async for task in self._walk(ops.list_tasks, params or ListTasksParams()):
            yield task

    async def _walk(
        self, list_page: Callable[[ops.Params], ops.Operation[Page[Item]]], params: ops.Params
    ) -> AsyncIterator[Item]:
        page_params: ops.Params | None = ops.first_page(params)
        while page_params is not None:
            page = await self._render._request(list_page(page_params))
            for item in page:
                yield item
            page_params = ops.next_page(page_params, page)

    async def get_task(self, task_id: str) -> Task:
        """A task by id (``tsk-...``)."""
        return await self._render._request(ops.get_task(task_id))

    async def wait_for_task_run(self, task_run_id: str, timeout: float | None = None) -> TaskRunDetails:
        """Wait for a run (started anywhere) to finish, and return its details.

        Raises:
            TaskRunError: The run failed (``TaskRunCanceledError`` if it was canceled).
            TimeoutError: ``timeout`` seconds passed first.
        """
        ops.check_task_run_id(task_run_id)
        details, event = await self._finished(task_run_id, timeout, look_first=True)
        return outcome(details, event)

    async def task_run_events(self, task_run_ids: Sequence[str]) -> AsyncIterator[TaskRunEvent]:
        """The events of the given runs as they happen, ending once every run has finished.

        The iterator opens its own connection and reconnects after a drop (``Last-Event-ID`` included).
        """
        pending = set(ops.check_task_run_ids(task_run_ids))
        render = self._render
        last_event_id: str | None = None
        failures = 0
        while pending:
            http = render._loop_state().http
            headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
            try:
                try:
                    async with aconnect_sse(
                        http,
                        "GET",
                        ops.EVENTS_PATH.lstrip("/"),
                        params=ops.events_query(sorted(pending)),
                        headers=headers,
                        timeout=_transport.stream_timeout(render._config),
                    ) as source:
                        if not source.response.is_success:
                            await source.response.aread()
                            raise stream_error(source.response)
                        async for sse in source.aiter_sse():
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
                await asyncio.sleep(min(delay, _transport.MAX_DELAY))

    async def _finished(self, task_run_id: str, timeout: float | None, *, look_first: bool) -> Finished:
        ops.check_timeout(timeout)
        try:
            return await asyncio.wait_for(self._finished_now(task_run_id, look_first), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"Task run {task_run_id} did not finish within {timeout} s") from None

    async def _finished_now(self, task_run_id: str, look_first: bool) -> Finished:
        if look_first:
            details = await self.get_task_run(task_run_id)
            if ended_by_terminal(details):
                return details, None
        return await self._render._loop_state().hub.wait(task_run_id)


class AwaitableTaskRun:
    """A started run: ``id`` and ``status`` at once, ``await run`` for the finished run's details.

    Awaiting returns :class:`TaskRunDetails` when the run succeeded (``completed`` or ``succeeded``), and
    raises :class:`TaskRunError` when it failed or :class:`TaskRunCanceledError` when it was canceled.
    Awaiting again returns the same outcome without another request.
    """

    def __init__(self, workflows: WorkflowsService, task_run: TaskRun) -> None:
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

    def __await__(self) -> Generator[Any, None, TaskRunDetails]:
        return self.wait().__await__()

    async def wait(self, timeout: float | None = None) -> TaskRunDetails:
        """Wait for the run to finish (see the class docstring); ``timeout`` in seconds, None for no limit.

        Raises:
            TaskRunError: The run failed (``TaskRunCanceledError`` if it was canceled).
            TimeoutError: ``timeout`` seconds passed first; the run goes on.
        """
        if self._finished is None:
            # A run that was already over when it started needs no stream: one GET has everything.
            finished = await self._workflows._finished(self.id, timeout, look_first=is_terminal(self._status))
            self._finished = finished
            self._status = finished[0].status
        return outcome(*self._finished)

    async def refresh(self) -> TaskRunDetails:
        """Fetch the run's current details (never raises for a failed run) and update ``status``."""
        details = await self._workflows.get_task_run(self.id)
        self._status = details.status
        return details

    async def cancel(self) -> None:
        """Ask the API to cancel this run; awaiting it then raises TaskRunCanceledError."""
        await self._workflows.cancel_task_run(self.id)

    def __repr__(self) -> str:
        return f"AwaitableTaskRun(id={self.id!r}, status={str(self._status)!r})"
