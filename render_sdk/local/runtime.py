"""The local runtime: Render's REST API, event stream and task runs on one machine.

Startup: open the store, register the worker's tasks (once, then again whenever a source file changes), resume
what a previous server left unfinished, and serve the API with uvicorn on one port. Shutdown (Ctrl-C or
SIGTERM): stop every running attempt and record it, then stop serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import shutil
import signal
import socket
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from render_sdk._protocol.local_dev import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_URL
from render_sdk._protocol.strict_json import dumps
from render_sdk.local.api.app import build_app
from render_sdk.local.api.guard import GuardPolicy, RequestGuard
from render_sdk.local.attempts.launcher import WorkerLauncher
from render_sdk.local.attempts.orchestrator import Limits, Orchestrator, default_max_concurrency
from render_sdk.local.attempts.prefork import Prefork
from render_sdk.local.attempts.registration import RegistrationError, register_tasks
from render_sdk.local.attempts.socket_server import make_socket_dir
from render_sdk.local.attempts.source_watch import source_changes
from render_sdk.local.attempts.worker_command import WorkerCommand
from render_sdk.local.database import DatabaseUnusable, claim_database, describe_open_error
from render_sdk.local.engine.clock import Clock, SystemClock
from render_sdk.local.engine.ids import new_id
from render_sdk.local.engine.records import TaskRecord, TaskSpec, VersionRecord, WorkflowRecord
from render_sdk.local.engine.states import RunStates
from render_sdk.local.engine.store import Store
from render_sdk.local.limits import REST_BODY_BYTES

__all__ = ["DevOptions", "LocalRuntime", "PortInUseError", "default_max_concurrency"]

REGISTRATION_FAILED = (
    "Registration failed: the task list stays as registered before, but new attempts run the current source "
    "(and fail the same way) until it registers again."
)


class PortInUseError(OSError):
    """The port the API should listen on is taken."""


@dataclass(frozen=True)
class DevOptions:
    """How to run the local runtime.

    Attributes:
        command: The worker command.
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one.
        db_path: The SQLite file; None keeps runs in memory only.
        max_concurrency: The most worker processes alive at once; further runs wait, pending.
        workflow_slug: The local workflow's slug (any slug in a task identifier is accepted anyway).
        verbose: Echo every line workers print.
        watch: Register again when a source file under the working directory changes.
        prefork: Fork attempts from a pre-imported copy of the worker when it is a Python program.
        test_timeout_seconds: For tests only: stop every attempt after this many seconds instead of its
            task's timeout, so timeout tests need not wait Render's 30 s minimum.
        allowed_hosts: Host names the API answers besides loopback and ``host`` (see ``api/guard.py``).
    """

    command: WorkerCommand
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    db_path: Path | None = None
    max_concurrency: int = 8
    workflow_slug: str = "workflow"
    verbose: bool = False
    watch: bool = True
    prefork: bool = False
    test_timeout_seconds: float | None = None
    allowed_hosts: tuple[str, ...] = ()


class LocalRuntime:
    """Serves the options' worker until :meth:`stop` or a SIGINT/SIGTERM.

    Args:
        options: What to run and where.
        echo: Prints a line for the user (the banner and status lines).
    """

    def __init__(
        self, options: DevOptions, echo: Callable[[str], None] = print, clock: Clock | None = None
    ) -> None:
        self.options = options
        self._echo = echo
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._stop = asyncio.Event()
        self._prefork: Prefork | None = None
        self.url: str | None = None

    def stop(self) -> None:
        """Ask the runtime to shut down."""
        self._stop.set()

    async def serve(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Run until stopped; ``on_ready`` gets the base URL once the API accepts requests.

        Whatever happens, the socket directory is removed and the database given up on the way out; a database
        that could not be opened leaves nothing behind that this call created.

        Raises:
            DatabaseUnusable: The database is another server's, or SQLite cannot use it (one-line message).
            PortInUseError: The port is taken.
        """
        options = self.options
        claim = claim_database(options.db_path) if options.db_path is not None else None
        opened = False
        try:
            listener = _bind(options.host, options.port)
            try:
                host, port = listener.getsockname()[:2]
                self.url = f"http://{host}:{port}"
                socket_dir = make_socket_dir()
                try:
                    store = _open_store(options.db_path)
                    opened = True
                    if claim is not None:
                        claim.opened(self.url)
                    await self._serve_store(store, listener, socket_dir, on_ready)
                finally:
                    shutil.rmtree(socket_dir, ignore_errors=True)
            finally:
                listener.close()
        finally:
            if claim is not None:
                claim.release(remove_created=not opened)

    async def _serve_store(
        self, store: Store, listener: socket.socket, socket_dir: Path, on_ready: Callable[[str], None] | None
    ) -> None:
        if self.options.prefork:
            self._prefork = Prefork(self.options.command, socket_dir, self._echo, self.options.verbose)
        try:
            await self._serve(store, listener, socket_dir, on_ready)
        finally:
            if self._prefork is not None:
                await self._prefork.close()
            store.close()

    async def _serve(
        self,
        store: Store,
        listener: socket.socket,
        socket_dir: Path,
        on_ready: Callable[[str], None] | None,
    ) -> None:
        options = self.options
        assert self.url is not None
        states = RunStates(store, clock=self._clock)
        orchestrator = Orchestrator(
            store,
            states,
            WorkerLauncher(options.command, self._prefork),
            socket_dir,
            Limits(options.max_concurrency, options.test_timeout_seconds),
            self._echo,
            options.verbose,
        )
        workflow = self._workflow(store)
        registration_error = await self._register(store, workflow, socket_dir)
        if self._prefork is not None:
            await self._prefork.restart(announce=False)  # the banner says whether it is on

        streams_closing = asyncio.Event()
        guard = GuardPolicy.for_address(options.host, options.allowed_hosts, REST_BODY_BYTES)
        config = uvicorn.Config(
            RequestGuard(build_app(store, states, closing=streams_closing), guard),
            log_level="warning",
            access_log=False,
            # No proxy sits in front of a local runtime: X-Forwarded-* from a local client are not trusted.
            proxy_headers=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = _Server(config)
        server_task = asyncio.ensure_future(server.serve(sockets=[listener]))
        stop_watching = asyncio.Event()
        watcher = (
            asyncio.ensure_future(self._watch(store, workflow, socket_dir, stop_watching))
            if options.watch
            else None
        )
        loop = asyncio.get_running_loop()
        with _signals(loop, self.stop):
            while not server.started and not server_task.done():
                await asyncio.sleep(0.01)
            if server_task.done():
                server_task.result()
                return
            self._banner(store, workflow, registration_error)
            # After the banner, so that what it retries, and why, is read in order.
            await orchestrator.resume()
            if on_ready is not None:
                on_ready(self.url)
            stopped = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait({stopped, server_task}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            self._echo("Stopping: ending running attempts...")
            streams_closing.set()  # first, so that no open event stream holds the server past its grace
            if watcher is not None:
                # Set first: the watching thread checks it every 50 ms, and a cancel waits for that thread.
                stop_watching.set()
                watcher.cancel()  # also ends a registration in progress
                await asyncio.wait({watcher})
            await orchestrator.shutdown()
            server.should_exit = True
            await server_task
        self._echo("Stopped.")

    # ---- workflow and registration ------------------------------------------------------------------------

    def _workflow(self, store: Store) -> WorkflowRecord:
        existing = store.get_workflow()
        moment = self._clock.now()
        workflow = WorkflowRecord(
            id=existing.id if existing else new_id("wfl"),
            slug=self.options.workflow_slug,
            run_command=self.options.command.describe(),
            created_at=existing.created_at if existing else moment,
            updated_at=moment,
        )
        store.put_workflow(workflow)
        return workflow

    async def _register(self, store: Store, workflow: WorkflowRecord, socket_dir: Path) -> str | None:
        """Register the worker's tasks as a new version; on failure, keep the old tasks and return why."""
        version = VersionRecord(
            id=new_id("wfv"),
            workflow_id=workflow.id,
            name=f"local-{store.count_versions() + 1}",
            status="ready",
            created_at=self._clock.now(),
        )
        try:
            tasks = await register_tasks(self.options.command, socket_dir)
        except RegistrationError as exc:
            store.add_version(VersionRecord(**{**version.__dict__, "status": "registration_failed"}))
            return str(exc)
        with store.transaction():
            store.add_version(version)
            for spec in tasks:
                _store_task(store, workflow, version, spec)
            store.deactivate_tasks_except(spec.name for spec in tasks)
        return None

    async def _watch(
        self, store: Store, workflow: WorkflowRecord, socket_dir: Path, stop: asyncio.Event
    ) -> None:
        try:
            async for _ in source_changes(self.options.command.cwd, stop):
                await self._register_again(store, workflow, socket_dir)
        except OSError as exc:  # e.g. the system's limit of inotify watches
            self._echo(f"Not watching the sources for changes: {exc}")

    async def _register_again(self, store: Store, workflow: WorkflowRecord, socket_dir: Path) -> None:
        self._echo("Source changed: registering tasks again...")
        error = await self._register(store, workflow, socket_dir)
        if self._prefork is not None:
            await self._prefork.restart()
        if error is None:
            names = ", ".join(task.name for task in store.list_tasks(active_only=True))
            self._echo(f"Registered tasks: {names}")
        else:
            self._echo(f"{REGISTRATION_FAILED}\n{error}")

    def _banner(self, store: Store, workflow: WorkflowRecord, registration_error: str | None) -> None:
        options = self.options
        tasks = store.list_tasks(active_only=True)
        persisted = (
            f"persisted in {options.db_path} (they survive restarts)"
            if options.db_path is not None
            else "kept in memory (lost when this server stops)"
        )
        lines = [
            "Render Workflows local runtime",
            f"  Dashboard:   {self.url}/  (runs, run trees with live logs, tasks)",
            f"  API:         {self.url}/v1  (Render's REST API and task-run events)",
            f"  Worker:      {options.command.describe()}",
            f"  Runs:        {persisted}",
            f"  Concurrency: up to {options.max_concurrency} worker processes",
            f"  Tasks:       {', '.join(task.name for task in tasks) or 'none'}",
        ]
        if self._prefork is not None:
            lines.append(f"  Prefork:     {self._prefork.describe()}")
        if registration_error is not None:
            lines.append(f"  {REGISTRATION_FAILED if tasks else 'Registration failed.'}")
            lines.extend(f"    {line}" for line in registration_error.splitlines())
        example = tasks[0] if tasks else None
        env = "RENDER_USE_LOCAL_DEV=true" if self.url == DEFAULT_URL else f"RENDER_LOCAL_DEV_URL={self.url}"
        body = dumps(
            {
                "task": f"{workflow.slug}/{example.name if example else 'my_task'}",
                "input": _example_input(example),
            }
        )
        lines += [
            "  Trigger a run:",
            f"    {env} python your_client.py      # Render() / RenderSync() talk to this server",
            f"    curl -X POST {self.url}/v1/task-runs -H 'Content-Type: application/json' -d '{body}'",
            f"Ready at {self.url}",
        ]
        self._echo("\n".join(lines))


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime stops its workers first, then the server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def _signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> Iterator[None]:
    installed = []
    # SIGHUP too: a closed terminal stops the server as Ctrl-C does, removing its socket directory.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            loop.add_signal_handler(signum, stop)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _open_store(path: Path | None) -> Store:
    """The store at ``path``; a file SQLite cannot use is a :class:`DatabaseUnusable` saying why."""
    if path is None:
        return Store(None)
    try:
        return Store(path)
    except (sqlite3.DatabaseError, OSError, RuntimeError) as exc:
        raise DatabaseUnusable(describe_open_error(path, exc)) from None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # asyncio turns Nagle off on accepted sockets only when the listener says IPPROTO_TCP. With Nagle on, a
    # keep-alive response written as headers then body waits ~40 ms for the client's delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                exc.errno,
                f"port {port} on {host} is already in use (another `render-workflows dev`?); "
                "stop it or pick another port with --port",
            ) from exc
        raise
    listener.listen(2048)
    listener.setblocking(False)
    return listener


def _example_input(task: TaskRecord | None) -> list[Any]:
    """Placeholder arguments for the banner's example request, one per required parameter."""
    samples: dict[str, Any] = {"int": 3, "float": 1.5, "str": "text", "bool": True, "list": [], "dict": {}}
    parameters = task.spec.parameters if task is not None else ()
    return [samples.get(p.type or "") for p in parameters if not p.has_default]


def _store_task(store: Store, workflow: WorkflowRecord, version: VersionRecord, spec: TaskSpec) -> None:
    existing = store.get_task_by_name(spec.name)
    store.upsert_task(
        TaskRecord(
            seq=0,
            id=existing.id if existing else new_id("tsk"),
            name=spec.name,
            workflow_id=workflow.id,
            workflow_version_id=version.id,
            spec=spec,
            active=True,
            created_at=existing.created_at if existing else version.created_at,
        )
    )
