"""``render-workflows run TASK [JSON-ARGS...] [--follow]``: start a task run, and optionally watch its tree.

With ``--follow`` the exit status tells how the run ended: 0 completed, 1 failed, 2 canceled.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from rich.live import Live

from render_sdk.client.types import is_success, is_terminal

from ._api import Api, RunNode, duration_seconds
from ._draw import details_lines, format_duration, tree_view
from ._shapes import details_json, run_json
from ._shell import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError, Session, command_parser, execute

__all__ = ["EXIT_CANCELED", "run"]

EXIT_CANCELED = 2

#: How often a followed run's tree is read again.
POLL_SECONDS = 0.3


def run(argv: Sequence[str]) -> int:
    """``render-workflows run`` with ``argv`` (the arguments after ``run``); returns the exit status."""
    parser = command_parser(
        "run",
        "Start a task run. Each argument is one JSON value, passed to the task in order.",
        epilog=(
            "examples:\n"
            "  render-workflows run square 5 --follow\n"
            "  render-workflows run greet '\"Ada\"'\n"
            '  render-workflows run greet --input \'{"name": "Ada"}\'\n'
            "\n"
            "With --follow the exit status is 0 when the run completed, 1 when it failed,\n"
            "2 when it was canceled."
        ),
    )
    parser.add_argument("task", metavar="TASK", help="the task's name, or its slug `workflow-slug/task-name`")
    parser.add_argument(
        "arguments", metavar="JSON-ARGS", nargs="*", help="the task's arguments, each as JSON"
    )
    parser.add_argument(
        "--input", metavar="JSON", help="the whole input instead: a JSON array (positional) or object (named)"
    )
    parser.add_argument(
        "--follow", "-f", action="store_true", help="show the run's tree live until it ends, then its result"
    )
    args = parser.parse_args(list(argv))
    if args.input is not None and args.arguments:
        parser.error("give the arguments either one by one or as --input, not both")
    return execute("run", args, lambda session: _start(session, args.task, _input(args), args.follow))


def _input(args: Any) -> list[Any] | dict[str, Any]:
    if args.input is not None:
        value = _parse(args.input, "--input")
        if not isinstance(value, (list, dict)):
            raise CommandError(
                f"--input must be a JSON array or object, got {type(value).__name__}", EXIT_USAGE
            )
        return value
    return [_parse(text, f"argument {index}") for index, text in enumerate(args.arguments, 1)]


def _parse(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{name} {text!r} is not JSON ({exc.msg} at character {exc.pos + 1}); "
            f"a string needs JSON quotes, e.g. '\"{text}\"'",
            EXIT_USAGE,
        ) from None


def _start(session: Session, task: str, input_data: list[Any] | dict[str, Any], follow: bool) -> int:
    api = Api(session.render)
    with session.progress(f"Starting {task}"):
        started = session.render.workflows.run_task(api.task_identifier(task), input_data)
    if follow:
        return _follow(session, api, started.id)
    if session.as_json:
        session.print_json(run_json(started.task_run, api.task_name(started.task_run.task_id)))
    else:
        session.out.print(f"Started {started.id} ({started.status}).")
        session.out.print(
            f"Follow it with `render-workflows runs show {started.id}` "
            f"or `render-workflows logs {started.id} --follow`."
        )
    return EXIT_OK


def _follow(session: Session, api: Api, run_id: str) -> int:
    """Show run ``run_id``'s tree until the run ends, then its result; return the exit status of its end."""
    try:
        tree = _watch(session, api, run_id)
    except KeyboardInterrupt:
        session.err.print(
            f"Stopped following {run_id}; the run goes on "
            f"(cancel it: `render-workflows runs cancel {run_id}`)."
        )
        return 130
    details = session.render.workflows.get_task_run(run_id)
    if session.as_json:
        session.print_json(details_json(details, tree))
    else:
        for line in details_lines(details, tree.name, datetime.now(timezone.utc)):
            session.out.print(line)
    if is_success(str(details.status)):
        return EXIT_OK
    return EXIT_CANCELED if str(details.status) == "canceled" else EXIT_FAILED


def _watch(session: Session, api: Api, run_id: str) -> RunNode:
    """Read the tree until its root ends; drawn live on a terminal, one line per change otherwise."""
    if session.as_json:
        return _poll(api, run_id, lambda tree: None)
    if session.out.is_terminal:
        with Live(console=session.out, auto_refresh=False) as live:

            def draw(tree: RunNode) -> None:
                live.update(tree_view(tree, datetime.now(timezone.utc)), refresh=True)

            return _poll(api, run_id, draw)
    seen: dict[str, tuple[str, int]] = {}

    def print_changes(tree: RunNode) -> None:
        for depth, node in tree.walk():
            status, attempts = str(node.run.status), len(node.run.attempts)
            if seen.get(node.run.id) != (status, attempts):
                seen[node.run.id] = (status, attempts)
                line = f"{'  ' * depth}{node.name} {node.run.id} {status}"
                if attempts > 1:
                    line += f" (attempt {attempts})"
                if is_terminal(status):
                    line += f" {format_duration(duration_seconds(node.run))}"
                session.out.print(line, highlight=False, markup=False)

    return _poll(api, run_id, print_changes)


def _poll(api: Api, run_id: str, show: Callable[[RunNode], None]) -> RunNode:
    while True:
        tree = api.tree(run_id)
        show(tree)
        if is_terminal(str(tree.run.status)):
            return tree
        time.sleep(POLL_SECONDS)
