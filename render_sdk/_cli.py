"""The ``render-workflows`` command (also ``python -m render_sdk``).

``render-workflows MODULE:APP`` serves a worker's tasks; every other subcommand is a function
``(argv) -> exit status`` named in :data:`SUBCOMMANDS` and imported only when it runs, so the worker's start
command loads neither the local runtime nor the REST client.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, NoReturn

from render_sdk._version import __version__

if TYPE_CHECKING:
    from render_sdk.workflows import Workflows

__all__ = ["SUBCOMMANDS", "main", "run"]


class Subcommand(NamedTuple):
    """Where a subcommand's ``(argv) -> int`` function lives (``module:function``), and what it does."""

    target: str
    summary: str


SUBCOMMANDS = {
    "dev": Subcommand("render_sdk.local.cli:dev", "Run Render's workflow runtime on this machine."),
    "logs": Subcommand("render_sdk._commands.logs:logs", "Show (or follow) the logs of a task run."),
    "tasks": Subcommand("render_sdk._commands.tasks:tasks", "List the registered tasks."),
    "run": Subcommand("render_sdk._commands.run:run", "Start a task run; --follow shows its tree live."),
    "runs": Subcommand(
        "render_sdk._commands.runs:runs", "List task runs, show one with its tree, cancel one."
    ),
    "init": Subcommand("render_sdk._commands.init:init", "Create a new workflow project."),
}
"""Every subcommand but ``MODULE:APP``; each takes the arguments after its name."""


def _usage() -> str:
    lines = ["usage: render-workflows MODULE:APP"]
    lines += [f"       render-workflows {name} [...]" for name in SUBCOMMANDS]
    lines += [
        "       render-workflows --version",
        "",
        "commands:",
        "  MODULE:APP  Serve the Workflows app APP of module MODULE (imported with the current directory on",
        "              sys.path): register its tasks or run one task, as RENDER_SDK_MODE asks. Use it as the",
        "              worker's start command, e.g. `render-workflows main:app`.",
    ]
    lines += [
        f"  {name:<10}  {command.summary} See `render-workflows {name} --help`."
        for name, command in SUBCOMMANDS.items()
    ]
    return "\n".join(lines) + "\n"


class _UsageError(Exception):
    """The command line or the named app is wrong; the message says how."""


def main() -> NoReturn:
    """The console script: run the command line and exit with its status."""
    # This process never runs httpx's own command line, whose module httpx imports when click, pygments and
    # rich are installed (they are, for uvicorn and our terminal commands): a quarter of a command's start.
    # Marked missing, httpx keeps its fallback. Only the console script does this, never the library.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    sys.exit(run(sys.argv[1:]))


def run(argv: Sequence[str]) -> int:
    """Run the command with ``argv`` (the arguments after ``render-workflows``); return the exit status."""
    args = list(argv)
    if args and args[0] in SUBCOMMANDS:
        return _load(SUBCOMMANDS[args[0]].target)(args[1:])
    if args == ["--version"]:
        print(f"render-workflows {__version__}")
        return 0
    if not args or args[0] in ("-h", "--help"):
        print(_usage(), end="", file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    try:
        if len(args) != 1:
            raise _UsageError(f"expected one MODULE:APP argument, got {' '.join(args)!r}")
        app = load_app(args[0])
    except _UsageError as exc:
        return _fail(str(exc))
    try:
        app.start()
    except ValueError as exc:  # The environment or the task set is wrong; a traceback would not help.
        return _fail(str(exc))
    return 0


def _load(target: str) -> Callable[[list[str]], int]:
    module_name, _, function = target.partition(":")
    command: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), function)
    return command


def _fail(message: str) -> int:
    print(f"render-workflows: error: {message}", file=sys.stderr)
    return 2


def load_app(spec: str) -> Workflows:
    """Import ``module:attribute`` (the current directory first on ``sys.path``) and return the app.

    Raises:
        _UsageError: ``spec`` is malformed, or names a missing module or attribute, or not an app.
    """
    from render_sdk.workflows import Workflows

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise _UsageError(f"expected MODULE:APP (e.g. main:app), got {spec!r}")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise _UsageError(
                f"no module named {missing!r} (looked in the current directory {cwd} and on sys.path)"
            ) from None
        raise
    app: object = module
    for part in attribute.split("."):
        if not hasattr(app, part):
            raise _UsageError(f"module {module_name!r} has no attribute {attribute!r}")
        app = getattr(app, part)
    if not isinstance(app, Workflows):
        raise _UsageError(f"{spec} is a {type(app).__name__}, not a render_sdk.Workflows app")
    return app
