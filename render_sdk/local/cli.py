"""``render-workflows dev``: the local runtime's command line.

::

    render-workflows dev [options] -- <worker command...>
    render-workflows dev [options] path/to/main.py

The commands that talk to a running server (``tasks``, ``run``, ``runs``, ``logs``) are in
:mod:`render_sdk._commands`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from render_sdk._protocol.local_dev import DEFAULT_HOST, DEFAULT_PORT
from render_sdk._version import __version__
from render_sdk.local.attempts.worker_command import WorkerCommand, load_env_file
from render_sdk.local.database import DatabaseUnusable

__all__ = ["dev"]

DEFAULT_DB = Path(".render") / "local-runtime.sqlite3"


def _dev_parser() -> argparse.ArgumentParser:
    from render_sdk.local.attempts.orchestrator import default_max_concurrency

    parser = argparse.ArgumentParser(
        prog="render-workflows dev",
        description="Run Render's REST API and your workflow's task runs on this machine.",
        usage="render-workflows dev [options] -- <worker command...>  |  "
        "render-workflows dev [options] main.py",
        epilog="Example: render-workflows dev -- python workflows/main.py",
    )
    parser.add_argument("--version", action="version", version=f"render-workflows {__version__}")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"interface to listen on (default: {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests whose Host is NAME (repeatable); loopback names and --host always are",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on; 0 picks a free one (default: {DEFAULT_PORT})",
    )
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--db", type=Path, help=f"SQLite file for runs and logs (default: ./{DEFAULT_DB})")
    store.add_argument("--in-memory", action="store_true", help="keep runs in memory only (lost on exit)")
    parser.add_argument(
        "--max-concurrency",
        type=int,
        default=default_max_concurrency(),
        help="most worker processes at once; further runs wait, pending (default: %(default)s)",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        action="append",
        default=[],
        help="load variables for the worker from this file (repeatable; ./.env is loaded if present)",
    )
    parser.add_argument("--workflow-slug", help="the workflow's slug (default: the current directory's name)")
    parser.add_argument("--verbose", "-v", action="store_true", help="echo what workers print")
    parser.add_argument("--no-watch", action="store_true", help="do not register again when sources change")
    parser.add_argument(
        "--prefork",
        action="store_true",
        help="start attempts faster: fork each from a pre-imported copy of a Python worker "
        "(falls back to a process per attempt when that is not safe)",
    )
    # For the runtime's own tests: attempts time out after this many seconds instead of their task's timeout.
    parser.add_argument("--test-timeout-seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("script", nargs="?", help="shorthand for `-- python SCRIPT`")
    return parser


def dev(argv: Sequence[str]) -> int:
    """``render-workflows dev`` with ``argv`` (the arguments after ``dev``); returns the exit status."""
    # The server (asyncio, uvicorn, starlette, the REST models) loads only here, so `logs` stays quick.
    import asyncio

    from render_sdk.local.runtime import DevOptions, LocalRuntime, PortInUseError

    args_list = list(argv)
    worker_args: list[str] = []
    if "--" in args_list:
        split = args_list.index("--")
        args_list, worker_args = args_list[:split], args_list[split + 1 :]
    parser = _dev_parser()
    args = parser.parse_args(args_list)
    if args.script is not None:
        if worker_args:
            parser.error("give either a script or a command after --, not both")
        worker_args = [args.script]
    if not worker_args:
        parser.error("no worker command: use `render-workflows dev -- python workflows/main.py`")
    if args.max_concurrency < 1:
        parser.error(f"--max-concurrency must be at least 1, got {args.max_concurrency}")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be from 0 to 65535, got {args.port}")
    cwd = Path.cwd()
    env: dict[str, str] = {}
    env_files = list(args.env_file)
    if Path(".env").is_file() and Path(".env").resolve() not in {path.resolve() for path in env_files}:
        env_files.insert(0, Path(".env"))
    try:
        for path in env_files:
            if not path.is_file():
                parser.error(f"--env-file {path}: no such file")
            env.update(load_env_file(path))
        command = WorkerCommand.from_args(worker_args, cwd, env)
    except ValueError as exc:
        parser.error(str(exc))
    options = DevOptions(
        command=command,
        host=args.host,
        port=args.port,
        db_path=None if args.in_memory else (args.db or DEFAULT_DB),
        max_concurrency=args.max_concurrency,
        workflow_slug=args.workflow_slug or cwd.name or "workflow",
        verbose=args.verbose,
        watch=not args.no_watch,
        prefork=args.prefork,
        test_timeout_seconds=args.test_timeout_seconds,
        allowed_hosts=tuple(args.allowed_host),
    )
    runtime = LocalRuntime(options, echo=_echo)
    try:
        asyncio.run(runtime.serve())
    except PortInUseError as exc:
        print(f"render-workflows dev: {exc.strerror}", file=sys.stderr)
        return 1
    except DatabaseUnusable as exc:
        print(f"render-workflows dev: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130
    return 0


def _echo(line: str) -> None:
    """Print a line for the user; while the server runs, the lines of one turn of its loop go in one write."""
    import asyncio  # loaded by dev() already; not at import, so that `logs` stays quick

    sys.stdout.write(line + "\n")
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        sys.stdout.flush()
        return
    global _flush_scheduled
    if not _flush_scheduled:
        _flush_scheduled = True
        loop.call_soon(_flush)


_flush_scheduled = False


def _flush() -> None:
    global _flush_scheduled
    _flush_scheduled = False
    sys.stdout.flush()
