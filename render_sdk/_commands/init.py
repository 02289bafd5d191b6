"""``render-workflows init [DIR]``: a new workflow project in the SDK reference's multi-file layout.

::

    DIR/
      README.md                  the next two commands: run the unit tests, run the tasks locally
      .gitignore
      workflows/main.py          the app, importing the task modules
      workflows/math_tasks.py    tasks, subtasks and a fan-out
      workflows/test_math_tasks.py   unit tests with render_sdk.testing

Existing files are never overwritten: if any of these exists, nothing is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from string import Template

from render_sdk._version import __version__

from ._shell import EXIT_FAILED, EXIT_OK

__all__ = ["PROJECT_FILES", "init"]

PROJECT_FILES = {
    "README.md": "README.md.tmpl",
    ".gitignore": "gitignore.tmpl",
    "workflows/main.py": "workflows/main.py.tmpl",
    "workflows/math_tasks.py": "workflows/math_tasks.py.tmpl",
    "workflows/test_math_tasks.py": "workflows/test_math_tasks.py.tmpl",
}
"""Each file of a new project, and its template in ``project_template/``."""


def init(argv: Sequence[str]) -> int:
    """``render-workflows init`` with ``argv`` (the arguments after ``init``); returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="render-workflows init",
        description="Create a workflow project: tasks in workflows/, a unit test, a README saying what next.",
    )
    parser.add_argument("directory", metavar="DIR", nargs="?", default=".", help="where (default: here)")
    parser.add_argument("--json", action="store_true", help="print the files written as JSON")
    parser.add_argument("--version", action="version", version=f"render-workflows {__version__}")
    args = parser.parse_args(list(argv))
    directory = Path(args.directory)
    existing = [name for name in PROJECT_FILES if (directory / name).exists()]
    if existing:
        print(
            f"render-workflows init: error: {directory} already has {', '.join(existing)}; "
            "nothing was written (init never overwrites a file)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    name = directory.resolve().name
    templates = resources.files(__package__ or "render_sdk._commands") / "project_template"
    try:
        for target, source in PROJECT_FILES.items():
            path = directory / target
            path.parent.mkdir(parents=True, exist_ok=True)
            text = templates.joinpath(source).read_text(encoding="utf-8")
            # Exclusive creation: a file that appeared since the check above is still not overwritten.
            with path.open("x", encoding="utf-8") as file:
                file.write(Template(text).substitute(name=name) if target == "README.md" else text)
    except OSError as exc:
        print(f"render-workflows init: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps({"directory": str(directory.resolve()), "files": list(PROJECT_FILES)}))
    else:
        print(f"Created the workflow project {name} in {directory}:")
        for target in PROJECT_FILES:
            print(f"  {target}")
        where = "" if args.directory == "." else f"cd {args.directory}, then "
        print(
            f"Next: {where}`python -m pytest workflows`, "
            "then `render-workflows dev -- python workflows/main.py` (see README.md)."
        )
    return EXIT_OK
