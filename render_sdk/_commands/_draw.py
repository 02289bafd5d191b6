"""How the commands draw for people: tables of tasks and runs, a run's tree with statuses and durations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from render_sdk.client.types import TaskRun, TaskRunDetails

from ._api import RunNode, TaskEntry, duration_seconds

__all__ = [
    "details_lines",
    "format_duration",
    "node_label",
    "runs_table",
    "status_text",
    "tasks_table",
    "tree_view",
]

_STATUS_STYLES = {
    "pending": "dim",
    "running": "yellow",
    "paused": "yellow",
    "completed": "green",
    "succeeded": "green",
    "failed": "bold red",
    "canceled": "magenta",
}


def format_duration(seconds: float | None) -> str:
    """``0.42s``, ``12.3s``, ``4m05s``, ``1h02m``; ``-`` for a run that has not started."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def status_text(status: object) -> Text:
    """The status, colored by what it means."""
    return Text(str(status), style=_STATUS_STYLES.get(str(status), ""))


def _started(run: TaskRun, now: datetime) -> str:
    """The start in local time: only the time of day when it was today."""
    if run.started_at is None:
        return "-"
    local = run.started_at.astimezone()
    return local.strftime("%H:%M:%S" if local.date() == now.astimezone().date() else "%Y-%m-%d %H:%M:%S")


def node_label(node: RunNode, now: datetime) -> Text:
    """One line of the tree: task, status, duration, attempts, run id."""
    run = node.run
    label = Text.assemble(
        (node.name, "bold"), "  ", status_text(run.status), "  ", format_duration(duration_seconds(run, now))
    )
    if len(run.attempts) > 1:
        label.append(f"  attempt {len(run.attempts)}")
    label.append(f"  {run.id}", style="dim")
    return label


def tree_view(node: RunNode, now: datetime) -> Tree:
    """The run and its subtasks, each with its status and duration."""
    tree = Tree(node_label(node, now))
    _grow(tree, node, now)
    return tree


def _grow(branch: Tree, node: RunNode, now: datetime) -> None:
    for child in node.children:
        _grow(branch.add(node_label(child, now)), child, now)


def runs_table(runs: Sequence[TaskRun], names: Sequence[str], now: datetime) -> Table:
    """Runs, newest first; subtasks marked under their task's name."""
    table = Table(box=None, pad_edge=False)
    # A run id is what the user copies into the next command: never cut, whatever the terminal's width.
    table.add_column("RUN", no_wrap=True, min_width=max((len(run.id) for run in runs), default=3))
    for header in ("TASK", "STATUS", "STARTED", "DURATION", "ATTEMPTS"):
        table.add_column(header, overflow="fold")
    for run, name in zip(runs, names, strict=True):
        table.add_row(
            run.id,
            f"↳ {name}" if run.parent_task_run_id else name,
            status_text(run.status),
            _started(run, now),
            format_duration(duration_seconds(run, now)),
            str(len(run.attempts)),
        )
    return table


def tasks_table(entries: Sequence[TaskEntry]) -> Table:
    """Registered tasks with their parameters, retry policy, timeout and plan."""
    table = Table(box=None, pad_edge=False)
    for header in ("TASK", "PARAMETERS", "RETRY", "TIMEOUT", "PLAN"):
        table.add_column(header)
    for entry in entries:
        table.add_row(
            Text(entry.slug or entry.task.name, style="bold"),
            _parameters(entry.parameters),
            _retry(entry.retry),
            f"{entry.timeout_seconds}s" if entry.timeout_seconds is not None else "-",
            entry.plan or "-",
        )
    return table


def _parameters(parameters: list[dict[str, Any]] | None) -> str:
    if parameters is None:
        return "?"
    shown = []
    for parameter in parameters:
        text = str(parameter.get("name", "?"))
        if parameter.get("type"):
            text += f": {parameter['type']}"
        if parameter.get("hasDefault"):
            default = parameter.get("default", "...")  # JSON text, as the worker registered it
            text += f" = {default if isinstance(default, str) else json.dumps(default)}"
        shown.append(text)
    return ", ".join(shown) or "(none)"


def _retry(retry: dict[str, Any] | None) -> str:
    if retry is None:
        return "?"
    retries = retry.get("maxRetries", 0)
    if not retries:
        return "none"
    return f"{retries}x, {retry.get('waitDurationMs', 0)} ms x{retry.get('factor', 1)}"


def details_lines(details: TaskRunDetails, name: str, now: datetime) -> list[Text]:
    """The run's details: task, status, timing, input, then its result or its error and each attempt's."""
    lines = [
        Text.assemble(("run      ", "dim"), details.id),
        Text.assemble(("task     ", "dim"), (name, "bold"), f"  ({details.task_id})"),
        Text.assemble(("status   ", "dim"), status_text(details.status)),
        Text.assemble(
            ("started  ", "dim"),
            _started(details, now),
            f"  ({format_duration(duration_seconds(details, now))})",
        ),
        Text.assemble(("input    ", "dim"), json.dumps(details.input_, ensure_ascii=False)),
    ]
    if details.parent_task_run_id:
        lines.insert(2, Text.assemble(("parent   ", "dim"), details.parent_task_run_id))
    if details.results is not None and str(details.status) in ("completed", "succeeded"):
        lines.append(Text.assemble(("result   ", "dim"), _result(details.results)))
    if details.error:
        lines.append(Text.assemble(("error    ", "dim"), (details.error, "red")))
    for attempt in details.attempts:
        if attempt.error and attempt.error != details.error:
            lines.append(Text.assemble((f"attempt {attempt.attempt} ", "dim"), (attempt.error, "red")))
    return lines


def _result(results: list[Any]) -> str:
    # A task returns one value; the API wraps it in a list.
    return json.dumps(results[0] if len(results) == 1 else results, ensure_ascii=False)
