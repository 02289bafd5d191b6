"""The ``render-workflows`` command (also ``python -m render_sdk``).

``render-workflows MODULE:APP`` serves a worker's tasks; ``dev`` and ``logs`` belong to the local runtime
(:mod:`render_sdk.local`) and are imported only when used.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from render_sdk.workflows._app import Workflows

__all__ = ["main"]

USAGE = """\
usage: render-workflows MODULE:APP
       render-workflows dev [...]
       render-workflows logs [...]

commands:
  MODULE:APP  Serve the Workflows app APP of module MODULE (imported with the current directory on
              sys.path): register its tasks or run one task, as RENDER_SDK_MODE asks. Use it as the
              worker's start command, e.g. `render-workflows main:app`.
  dev         Run Render's workflow runtime on this machine (see `render-workflows dev --help`).
  logs        Show the logs of task runs on the local runtime (see `render-workflows logs --help`).
"""

LOCAL_COMMANDS = ("dev", "logs")


class _UsageError(Exception):
    """The command line or the named app is wrong; the message says how."""


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); exits with the command's status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in LOCAL_COMMANDS:
        from render_sdk.local.cli import main as local_main

        status = local_main(args)
        sys.exit(status or 0)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, end="", file=sys.stdout if args else sys.stderr)
        sys.exit(0 if args else 2)
    try:
        if len(args) != 1:
            raise _UsageError(f"expected one MODULE:APP argument, got {' '.join(args)!r}")
        app = load_app(args[0])
    except _UsageError as exc:
        _fail(str(exc))
    try:
        app.start()
    except ValueError as exc:  # The environment or the task set is wrong; a traceback would not help.
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    print(f"render-workflows: error: {message}", file=sys.stderr)
    sys.exit(2)


def load_app(spec: str) -> Workflows:
    """Import ``module:attribute`` (the current directory first on ``sys.path``) and return the app."""
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
