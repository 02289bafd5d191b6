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
from httpx_sse import aconnect_sse

from render_sdk.client import _operations as ops
from render_sdk.client import _request_core as core
from render_sdk.client._async_events import EventHub, Sleep
from render_sdk.client._client_base import ClientBase, ServiceBase, StartedRunBase
from render_sdk.client._stream_cursor import StreamCursor
from render_sdk.client._waiting import STREAM_ERRORS, Finished, ended_by_terminal, outcome
from render_sdk.client.errors import RenderError, TimeoutError, is_transient
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

__all__ = ["AwaitableTaskRun", "Render", "RenderAsync", "WorkflowsService"]

logger = logging.getLogger("render_sdk.client")
Result = TypeVar("Result")
Item = TypeVar("Item")


@dataclass
class _LoopState:
    # An httpx.AsyncClient's connections belong to the event loop that opened them, so each loop gets its
    # own (one Render object used from several asyncio.run() calls keeps working).
    loop: asyncio.AbstractEventLoop
    http: httpx.AsyncClient
    streams: httpx.AsyncClient
    hub: EventHub
    closer: AsyncGenerator[None, None]
    # Requests wait here, first come first served, for one of the pool's connections: httpcore matches every
    # request queued in its pool against every connection, so 10,000 requests queued there cost O(n²).
    slots: asyncio.Semaphore


class Render(ClientBase[httpx.AsyncBaseTransport]):
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

    def _open(self, transport: httpx.AsyncBaseTransport | None) -> None:
        # Connections are opened per event loop, on first use (see _loop_state).
        self._transport = transport
        self._state: _LoopState | None = None
        #: Every pause (retry backoff, reconnect backoff, polling) goes through here; tests replace it.
        self._sleep: Sleep = asyncio.sleep
        self.workflows = WorkflowsService(self)

    @property
    def api_client(self) -> ApiClient:
        """The generated low-level client (``render_sdk_public_api``) sharing this client's connection pool.

        Use it with the generated ``api.workflows_beta`` functions for workflows and workflow versions. It
        must be used on the event loop that asked for it.
        """
        client = self._new_api_client()
        client.set_async_httpx_client(self._loop_state().http)
        return client

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
            http = httpx.AsyncClient(transport=self._transport, **core.client_kwargs(self._config))
            streams = httpx.AsyncClient(transport=self._transport, **core.stream_client_kwargs(self._config))
            workflows = self.workflows
            hub = EventHub(
                streams, self._config, workflows._look_up, workflows._list_trees, self._traits, self._sleep
            )
            closer = _closed_with_loop(http, streams)
            self._state = _LoopState(
                loop, http, streams, hub, closer, asyncio.Semaphore(core.CONNECTION_POOL_SIZE)
            )
        return self._state

    async def _request(self, operation: ops.Operation[Result], max_retries: int | None = None) -> Result:
        """Carry out the steps of :class:`render_sdk.client._request_core.RequestPlan`."""
        plan = core.RequestPlan(operation, self._config.retries(max_retries))
        for step in plan:
            if isinstance(step, core.Pause):
                await self._sleep(step.seconds)
            else:
                plan.answer(await self._send(step))
        return plan.result

    async def _send(self, step: core.Send) -> httpx.Response | Exception:
        state = self._loop_state()
        try:
            async with state.slots:
                return await state.http.send(state.http.build_request(**step.args))
        except core.HTTPX_ERRORS as exc:
            return exc


async def _close_when_loop_ends(*clients: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        for http in clients:
            await http.aclose()


def _closed_with_loop(*clients: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    """An async generator that closes the ``clients`` when the running event loop shuts down.

    ``Render()`` is commonly used without ``async with`` (the seed examples do). ``asyncio.run`` closes every
    suspended async generator of its loop before closing the loop, so starting this one here means the
    connections are closed while the loop can still do it, instead of leaking sockets.
    """
    closer = _close_when_loop_ends(*clients)
    with contextlib.suppress(StopIteration):
        # Runs to the `yield` without awaiting anything, and registers the generator with the running loop.
        closer.asend(None).send(None)
    return closer


class WorkflowsService(ServiceBase[Render]):
    """Task runs and tasks: ``render.workflows``."""

    async def run_task(
        self, task_identifier: str, input_data: TaskInput, *, idempotency_key: str | None = None
    ) -> AwaitableTaskRun:
        """Start a run of ``task_identifier`` (``"workflow-slug/task-name"``) with ``input_data``.

        ``input_data`` is a list or tuple of positional arguments, or a dict of named ones. The returned run's
        ``id`` and ``status`` are there at once; ``await`` it for the finished run's details.

        Args:
            task_identifier: ``"workflow-slug/task-name"``, optionally with ``":version"``.
            input_data: The task's arguments.
            idempotency_key: 1 to 255 characters. A start repeated with the same key (within 24 hours, in the
                same workflow) returns the run the first one started. When None, each call makes its own
                key, which its retries re-send: a transient failure is retried without a second run.

        Raises:
            TypeError, ValueError: Malformed identifier, input or key (before any request).
            ClientError, ServerError, TimeoutError: The API refused or could not be reached.
        """
        operation = ops.create_task_run(task_identifier, input_data, idempotency_key)
        return AwaitableTaskRun(self, await self._render._request(operation))

    async def start_task(
        self, task_identifier: str, input_data: TaskInput, *, idempotency_key: str | None = None
    ) -> AwaitableTaskRun:
        """The render 1.x name of :meth:`run_task`: start a run and return it, awaitable, at once."""
        return await self.run_task(task_identifier, input_data, idempotency_key=idempotency_key)

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

        The iterator opens its own connection and reconnects after a drop (``Last-Event-ID`` included), for
        as long as the API is unreachable; it ends by itself whether or not the server closes the stream.

        Raises:
            ValueError: The ids are malformed, or too many for one stream's URL.
            RenderError: The API refused the stream (e.g. ``AuthenticationError``).
        """
        render = self._render
        cursor = StreamCursor(render._config, ops.check_task_run_ids(task_run_ids))
        ops.events_query(task_run_ids)  # too many ids fail here, before the first connection
        while not cursor.done:
            failure: Exception | None = None
            try:
                async with aconnect_sse(render._loop_state().streams, **cursor.connect_args()) as source:
                    if not source.response.is_success:
                        await source.response.aread()
                    cursor.opened(source.response)
                    async for sse in source.aiter_sse():
                        event = cursor.read(sse)
                        if event is not None:
                            yield event
                            if cursor.ends_run(event) and cursor.done:
                                return
            except STREAM_ERRORS as exc:
                failure = exc
            await render._sleep(cursor.pause_after(failure))

    async def _look_up(self, task_run_id: str) -> TaskRunDetails:
        """One GET of the run, without retries: a wait's reconnect rule paces its re-checks."""
        return await self._render._request(ops.get_task_run(task_run_id), max_retries=0)

    async def _list_trees(self, root_task_run_ids: list[str]) -> Page[TaskRun]:
        """One page of the runs in the trees of up to a hundred runs, without retries (for re-checks)."""
        params = ListTaskRunsParams(root_task_run_ids=root_task_run_ids, limit=ops.ITER_PAGE_SIZE)
        return await self._render._request(ops.list_task_runs(params), max_retries=0)

    async def _finished(self, task_run_id: str, timeout: float | None, *, look_first: bool) -> Finished:
        ops.check_timeout(timeout)
        try:
            return await asyncio.wait_for(self._finished_now(task_run_id, look_first), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"Task run {task_run_id} did not finish within {timeout} s") from None

    async def _finished_now(self, task_run_id: str, look_first: bool) -> Finished:
        if look_first:
            try:
                details = await self._look_up(task_run_id)
            except RenderError as exc:
                if not is_transient(exc):
                    raise
            else:
                if ended_by_terminal(details):
                    return details, None
        return await self._render._loop_state().hub.wait(task_run_id)


class AwaitableTaskRun(StartedRunBase[WorkflowsService]):
    """A started run: ``id`` and ``status`` at once, ``await run`` for the finished run's details.

    Awaiting returns :class:`TaskRunDetails` when the run succeeded (``completed`` or ``succeeded``), and
    raises :class:`TaskRunError` when it failed or :class:`TaskRunCanceledError` when it was canceled.
    Awaiting again returns the same outcome without another request.
    """

    def __await__(self) -> Generator[Any, None, TaskRunDetails]:
        return self.wait().__await__()

    async def wait(self, timeout: float | None = None) -> TaskRunDetails:
        """Wait for the run to finish (see the class docstring); ``timeout`` in seconds, None for no limit.

        Raises:
            TaskRunError: The run failed (``TaskRunCanceledError`` if it was canceled).
            TimeoutError: ``timeout`` seconds passed first; the run goes on.
        """
        if self._finished is not None:
            return outcome(*self._finished)
        return self._settle(
            await self._workflows._finished(self.id, timeout, look_first=self._over_when_started)
        )

    async def refresh(self) -> TaskRunDetails:
        """Fetch the run's current details (never raises for a failed run) and update ``status``."""
        return self._refreshed(await self._workflows.get_task_run(self.id))

    async def cancel(self) -> None:
        """Ask the API to cancel this run; awaiting it then raises TaskRunCanceledError."""
        await self._workflows.cancel_task_run(self.id)


RenderAsync = Render
"""The render 1.x name of :class:`Render`, the asynchronous client."""
