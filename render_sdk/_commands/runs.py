"""``render-workflows runs list|show|cancel``: list task runs, show one with its tree, cancel one."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime, timezone

from render_sdk._version import __version__
from render_sdk.client.types import TaskRunStatus

from ._api import Api, RunNode
from ._draw import details_lines, runs_table, tree_view
from ._shapes import details_json, run_json
from ._shell import EXIT_OK, CommandError, Session, add_common_options, execute

__all__ = ["runs"]

DEFAULT_LIMIT = 20


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="render-workflows runs", description="List task runs, show one with its tree, or cancel one."
    )
    # Only the actions take --url and --json: a subparser's defaults would overwrite values given before it.
    parser.add_argument("--version", action="version", version=f"render-workflows {__version__}")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the newest runs, subtasks included")
    add_common_options(listing)
    listing.add_argument("--task", help="only runs of this task (its name or slug)")
    listing.add_argument(
        "--status", choices=[status.value for status in TaskRunStatus], help="only runs with this status"
    )
    listing.add_argument(
        "--limit", type=_positive, default=DEFAULT_LIMIT, help="at most this many (default: %(default)s)"
    )
    show = actions.add_parser("show", help="a run's details (input, result, errors) and its tree of subtasks")
    add_common_options(show)
    show.add_argument("run_id", metavar="RUN_ID", help="the task run (trn-...)")
    cancel = actions.add_parser("cancel", help="cancel a run and every subtask under it")
    add_common_options(cancel)
    cancel.add_argument("run_id", metavar="RUN_ID", help="the task run (trn-...)")
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def runs(argv: Sequence[str]) -> int:
    """``render-workflows runs`` with ``argv`` (the arguments after ``runs``); returns the exit status."""
    args = _parser().parse_args(list(argv))
    name = f"runs {args.action}"
    if args.action == "list":
        return execute(name, args, lambda session: _list(session, args.task, args.status, args.limit))
    if args.action == "show":
        return execute(name, args, lambda session: _show(session, args.run_id))
    return execute(name, args, lambda session: _cancel(session, args.run_id))


def _list(session: Session, task: str | None, status: str | None, limit: int) -> int:
    api = Api(session.render)
    with session.progress(f"Listing the runs of {session.url}"):
        found = api.runs(task, status, limit)
        names = [api.task_name(run.task_id) for run in found]
    if session.as_json:
        session.print_json([run_json(run, name) for run, name in zip(found, names, strict=True)])
    elif not found:
        session.err.print("No task runs match." if task or status else "No task runs yet.")
    else:
        session.out.print(runs_table(found, names, datetime.now(timezone.utc)))
    return EXIT_OK


def _show(session: Session, run_id: str) -> int:
    api = Api(session.render)
    with session.progress(f"Reading {run_id}"):
        details = session.render.workflows.get_task_run(run_id)
        tree = _subtree(api.tree(details.root_task_run_id or details.id), run_id)
    if session.as_json:
        session.print_json(details_json(details, tree))
        return EXIT_OK
    now = datetime.now(timezone.utc)
    for line in details_lines(details, tree.name, now):
        session.out.print(line)
    session.out.print()
    session.out.print(tree_view(tree, now))
    return EXIT_OK


def _subtree(root: RunNode, run_id: str) -> RunNode:
    for _, node in root.walk():
        if node.run.id == run_id:
            return node
    raise CommandError(f"task run {run_id} is not in the tree of its root {root.run.id}")


def _cancel(session: Session, run_id: str) -> int:
    with session.progress(f"Canceling {run_id}"):
        session.render.workflows.cancel_task_run(run_id)
        details = session.render.workflows.get_task_run(run_id)
    if session.as_json:
        session.print_json({"id": run_id, "status": str(details.status)})
    else:
        session.out.print(f"Canceled {run_id} and its subtasks ({details.status}).")
    return EXIT_OK
