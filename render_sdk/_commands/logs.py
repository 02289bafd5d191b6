"""``render-workflows logs RUN_ID [--follow]``: what a task run's worker processes wrote.

Logs are read from the local runtime's ``GET /v1/logs`` (an extension of Render's API), or, with ``--db`` or
when no server answers at the default address, from its SQLite store directly.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from render_sdk.client.errors import ServerError
from render_sdk.client.types import is_terminal

from ._api import Api
from ._shell import EXIT_FAILED, EXIT_OK, Session, add_common_options, execute

__all__ = ["logs"]

#: The local runtime's store, relative to the directory ``render-workflows dev`` was started in.
DEFAULT_DB = Path(".render") / "local-runtime.sqlite3"

#: How often a followed run's logs are read again.
POLL_SECONDS = 0.3


def logs(argv: Sequence[str]) -> int:
    """``render-workflows logs`` with ``argv`` (the arguments after ``logs``); returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="render-workflows logs", description="Print what a task run's worker processes wrote."
    )
    add_common_options(parser)
    parser.add_argument("run_id", metavar="RUN_ID", help="the task run (trn-...)")
    parser.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new lines until the run ends"
    )
    parser.add_argument(
        "--db", type=Path, help=f"read the store directly (default when no server answers: {DEFAULT_DB})"
    )
    args = parser.parse_args(list(argv))
    if args.db is not None and (args.url is not None or args.follow):
        parser.error("--db reads a store at rest: it goes with neither --url nor --follow")
    if args.db is not None:
        return _from_db(args.db, args.run_id, args.json)
    fallback = args.url is None and not args.follow and DEFAULT_DB.is_file()
    with_fallback = _ServerOrStore(args.run_id, args.follow, fallback, args.json)
    return execute("logs", args, with_fallback.read)


class _ServerOrStore:
    """Read from the server; when it cannot be reached and a store is at the default path, from the store."""

    def __init__(self, run_id: str, follow: bool, fallback: bool, as_json: bool) -> None:
        self._run_id = run_id
        self._follow = follow
        self._fallback = fallback
        self._as_json = as_json

    def read(self, session: Session) -> int:
        try:
            return _from_server(session, self._run_id, self._follow)
        except ServerError as exc:
            if exc.status_code is None and self._fallback:
                return _from_db(DEFAULT_DB, self._run_id, self._as_json)
            raise


def _from_server(session: Session, run_id: str, follow: bool) -> int:
    api = Api(session.render)
    if follow and session.err.is_terminal:
        session.err.print(
            f"Following the logs of {run_id} until it ends (Ctrl-C stops following).", style="dim"
        )
    start: str | None = None
    last_seq = 0
    ended = False
    while True:
        page = api.logs_page(run_id, start)
        for log in page["logs"]:
            seq = int(log["id"])
            if seq <= last_seq:  # the next read starts at this line's moment, and so repeats it
                continue
            last_seq = seq
            labels = {label["name"]: label["value"] for label in log["labels"]}
            attempt = int(labels.get("attempt", 0))
            _print(session.as_json, log["timestamp"], attempt, labels.get("type", ""), log["message"])
            start = log["timestamp"]
        if page["hasMore"]:
            start = page["nextStartTime"]
            continue
        if not follow or ended:
            return EXIT_OK
        # One more read after the run ended: lines written just before its end arrive with it.
        ended = is_terminal(str(session.render.workflows.get_task_run(run_id).status))
        if not ended:
            time.sleep(POLL_SECONDS)


def _from_db(path: Path, run_id: str, as_json: bool) -> int:
    from render_sdk.local.engine.store import Store  # only this fallback needs the runtime's store

    if not path.is_file():
        return _fail(f"no store at {path}")
    store = Store(path)
    try:
        if store.get_run(run_id) is None:
            return _fail(f"task run {run_id} not found in {path}")
        for record in store.logs([run_id]):
            _print(as_json, record.timestamp.isoformat(), record.attempt, record.stream, record.message)
    finally:
        store.close()
    return EXIT_OK


def _fail(message: str) -> int:
    print(f"render-workflows logs: error: {message}", file=sys.stderr)
    return EXIT_FAILED


def _print(as_json: bool, moment: str, attempt: int, stream: str, message: str) -> None:
    if as_json:
        record: dict[str, Any] = {
            "timestamp": moment,
            "attempt": attempt,
            "stream": stream,
            "message": message,
        }
        print(json.dumps(record, ensure_ascii=False), flush=True)
    else:
        print(f"{moment}  attempt {attempt}  {stream}  {message}", flush=True)
