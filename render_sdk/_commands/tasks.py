"""``render-workflows tasks``: the registered tasks with their parameters, retry policy, timeout and plan."""

from __future__ import annotations

from collections.abc import Sequence

from ._api import Api
from ._draw import tasks_table
from ._shapes import task_json
from ._shell import EXIT_OK, Session, command_parser, execute

__all__ = ["tasks"]


def tasks(argv: Sequence[str]) -> int:
    """``render-workflows tasks`` with ``argv`` (the arguments after ``tasks``); returns the exit status."""
    parser = command_parser(
        "tasks",
        "List the tasks the workflow registered, with their parameters, retry policy, timeout and plan.",
        epilog="Start one with `render-workflows run TASK [JSON-ARGS...]`.",
    )
    return execute("tasks", parser.parse_args(list(argv)), _list)


def _list(session: Session) -> int:
    with session.progress(f"Reading the tasks of {session.url}"):
        entries = Api(session.render).tasks()
    if session.as_json:
        session.print_json([task_json(entry) for entry in entries])
    elif not entries:
        session.err.print("No tasks registered yet: is the worker of `render-workflows dev` running?")
    else:
        session.out.print(tasks_table(entries))
    return EXIT_OK
