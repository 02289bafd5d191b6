"""What every client-side command shares: common options, a client, how it reports progress and errors.

Exit statuses: 0 done, 1 the API refused or could not be reached, 2 the command line is wrong (as argparse
does). ``run --follow`` adds its own (see :mod:`render_sdk._commands.run`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from render_sdk._protocol.local_dev import DEFAULT_URL
from render_sdk._version import __version__
from render_sdk.client import RenderSync
from render_sdk.client.errors import RenderError, ServerError

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandError",
    "Session",
    "add_common_options",
    "command_parser",
    "execute",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

#: The width of lines printed when stdout is not a terminal: ids and names are never cut to fit 80 columns.
PLAIN_WIDTH = 200

#: Retries of a failed request: one, so a server that is not running is reported within a second.
MAX_RETRIES = 1


class CommandError(Exception):
    """The command cannot go on; its message is the one line the user sees."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--url``, ``--json`` and ``--version``, which every client-side command takes."""
    parser.add_argument(
        "--url",
        help=f"the Render API to talk to (default: $RENDER_LOCAL_DEV_URL, else {DEFAULT_URL})",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of tables")
    parser.add_argument("--version", action="version", version=f"render-workflows {__version__}")


def command_parser(name: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    """A parser for ``render-workflows NAME`` with the common options."""
    parser = argparse.ArgumentParser(
        prog=f"render-workflows {name}",
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_options(parser)
    return parser


@dataclass
class Session:
    """One command's connection to the API and its two consoles.

    Attributes:
        name: The command, for messages (``runs show``).
        url: The API's base URL.
        as_json: Print JSON (``--json``) instead of tables.
        render: The client.
        out: Where results go (stdout).
        err: Where progress and errors go (stderr).
    """

    name: str
    url: str
    as_json: bool
    render: RenderSync
    out: Console
    err: Console

    def print_json(self, value: Any) -> None:
        """Print ``value`` as one JSON document (or one JSON line, for streams)."""
        print(json.dumps(value, ensure_ascii=False), flush=True)

    @contextlib.contextmanager
    def progress(self, message: str) -> Iterator[None]:
        """A spinner with ``message`` on a terminal while the block runs; nothing when stderr is not one."""
        if self.err.is_terminal:
            with self.err.status(message):
                yield
        else:
            yield


def _console(stderr: bool) -> Console:
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, width=PLAIN_WIDTH)
    return console


def api_url(option: str | None) -> str:
    """``--url``, else ``RENDER_LOCAL_DEV_URL``, else the local runtime's default address."""
    return option or os.environ.get("RENDER_LOCAL_DEV_URL", "").strip() or DEFAULT_URL


def execute(name: str, args: argparse.Namespace, body: Callable[[Session], int]) -> int:
    """Run ``body`` with a session for ``args``; turn every expected failure into one line on stderr."""
    url = api_url(args.url)
    try:
        with RenderSync(base_url=url, max_retries=MAX_RETRIES) as render:
            session = Session(name, url, args.json, render, _console(False), _console(True))
            return body(session)
    except CommandError as exc:
        return _fail(name, str(exc), exc.status)
    except ValueError as exc:  # an unusable --url, or an argument the client refused
        return _fail(name, str(exc), EXIT_USAGE)
    except RenderError as exc:
        return _fail(name, describe(exc, url), EXIT_FAILED)
    except KeyboardInterrupt:
        return 130


def describe(error: RenderError, url: str) -> str:
    """The one line for an API error; a server that never answered is named with how to start one."""
    if isinstance(error, ServerError) and error.status_code is None:
        cause = error.__cause__
        reason = (str(cause) or type(cause).__name__) if cause is not None else str(error)
        return f"cannot reach {url} ({reason}); is `render-workflows dev` running there?"
    return str(error)


def _fail(name: str, message: str, status: int) -> int:
    print(f"render-workflows {name}: error: {message}", file=sys.stderr, flush=True)
    return status
