"""``render-workflows dev`` and ``render-workflows logs``: the local runtime's command line.

::

    render-workflows dev [options] -- <worker command...>
    render-workflows dev [options] path/to/main.py
    render-workflows logs RUN_ID [--url URL | --db PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from render_sdk._protocol.local_dev import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_URL
from render_sdk.local.attempts.worker_command import WorkerCommand, load_env_file
from render_sdk.local.engine.store import Store

__all__ = ["dev", "logs", "main"]

DEFAULT_DB = Path(".render") / "local-runtime.sqlite3"


def main(argv: Sequence[str]) -> int:
    """Run ``dev`` or ``logs`` (``argv[0]``) with the remaining arguments; returns the exit status."""
    command, *rest = argv
    if command == "dev":
        return dev(rest)
    if command == "logs":
        return logs(rest)
    print(f"render-workflows: unknown local command {command!r} (expected dev or logs)", file=sys.stderr)
    return 2


def _dev_parser() -> argparse.ArgumentParser:
    from render_sdk.local.attempts.orchestrator import default_max_concurrency

    parser = argparse.ArgumentParser(
        prog="render-workflows dev",
        description="Run Render's REST API and your workflow's task runs on this machine.",
        usage="render-workflows dev [options] -- <worker command...>  |  "
        "render-workflows dev [options] main.py",
        epilog="Example: render-workflows dev -- python workflows/main.py",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"interface to listen on (default: {DEFAULT_HOST})"
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
    )
    runtime = LocalRuntime(options, echo=_echo)
    try:
        asyncio.run(runtime.serve())
    except PortInUseError as exc:
        print(f"render-workflows dev: {exc.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130
    return 0


def _echo(line: str) -> None:
    print(line, flush=True)


def logs(argv: Sequence[str]) -> int:
    """``render-workflows logs`` with ``argv`` (the arguments after ``logs``); returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="render-workflows logs", description="Print what a task run's worker processes wrote."
    )
    parser.add_argument("run_id", help="the task run (trn-...)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--url", help=f"a running local runtime (default: RENDER_LOCAL_DEV_URL or {DEFAULT_URL})"
    )
    source.add_argument(
        "--db", type=Path, help=f"read the store directly (default when no server answers: {DEFAULT_DB})"
    )
    args = parser.parse_args(list(argv))
    if args.db is not None:
        return _logs_from_db(args.db, args.run_id)
    url = args.url or os.environ.get("RENDER_LOCAL_DEV_URL") or DEFAULT_URL
    try:
        return _logs_from_server(url, args.run_id)
    except urllib.error.URLError as exc:
        if args.url is None and DEFAULT_DB.is_file():
            return _logs_from_db(DEFAULT_DB, args.run_id)
        print(f"render-workflows logs: cannot reach {url}: {exc.reason}", file=sys.stderr)
        return 1


def _logs_from_server(url: str, run_id: str) -> int:
    base = url.rstrip("/")
    start: str | None = None
    while True:
        query = {"taskRun": run_id, "limit": "1000", **({"startTime": start} if start else {})}
        try:
            with urllib.request.urlopen(
                f"{base}/v1/logs?{urllib.parse.urlencode(query)}", timeout=30
            ) as response:
                page = json.load(response)
        except urllib.error.HTTPError as exc:
            print(
                f"render-workflows logs: {exc.code}: {exc.read().decode(errors='replace')}", file=sys.stderr
            )
            return 1
        for log in page["logs"]:
            labels = {label["name"]: label["value"] for label in log["labels"]}
            _print_log(
                log["timestamp"], int(labels.get("attempt", 0)), labels.get("type", "stdout"), log["message"]
            )
        if not page["hasMore"]:
            return 0
        start = page["nextStartTime"]


def _logs_from_db(path: Path, run_id: str) -> int:
    if not path.is_file():
        print(f"render-workflows logs: no store at {path}", file=sys.stderr)
        return 1
    store = Store(path)
    try:
        if store.get_run(run_id) is None:
            print(f"render-workflows logs: task run {run_id} not found in {path}", file=sys.stderr)
            return 1
        for record in store.logs([run_id]):
            _print_log(record.timestamp.isoformat(), record.attempt, record.stream, record.message)
    finally:
        store.close()
    return 0


def _print_log(moment: str, attempt: int, stream: str, message: str) -> None:
    print(f"{moment}  attempt {attempt}  {stream}  {message}", file=sys.stdout)
