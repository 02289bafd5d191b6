"""The user's worker command and the environment its processes get."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from render_sdk._protocol.worker_env import MODE_VARIABLE, SOCKET_VARIABLE, Mode, attempt_variables

__all__ = ["WorkerCommand", "load_env_file"]


@dataclass(frozen=True)
class WorkerCommand:
    """How to start a worker process.

    Attributes:
        argv: The command and its arguments, run without a shell.
        cwd: The working directory of every worker process.
        env: Variables from env files; they override the inherited environment.
    """

    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> WorkerCommand:
        """Build the command from what followed ``--``, or from the shorthand ``path/to/main.py``."""
        if not args:
            raise ValueError(
                "no worker command given: use `render-workflows dev -- python workflows/main.py`"
            )
        if len(args) == 1 and args[0].endswith(".py") and " " not in args[0]:
            return cls((sys.executable, args[0]), cwd, dict(env))
        if len(args) == 1 and " " in args[0]:
            raise ValueError(
                f"the worker command {args[0]!r} is one argument containing spaces; it is run without a "
                f"shell, so pass its words separately: render-workflows dev -- {args[0]}"
            )
        return cls(tuple(args), cwd, dict(env))

    def describe(self) -> str:
        """The command as a shell would show it."""
        return shlex.join(self.argv)

    def environment(self, mode: Mode, socket_path: Path) -> dict[str, str]:
        """The environment of a worker process in ``mode`` ("run" or "register")."""
        env = self.base_environment()
        env.update(attempt_variables(mode, str(socket_path)))
        return env

    def base_environment(self) -> dict[str, str]:
        """The environment every worker process shares: all but the per-process :func:`attempt_variables`."""
        env = dict(os.environ)
        env.update(self.env)
        # Line-buffered output, so logs arrive as the task prints them rather than when the process exits.
        env.setdefault("PYTHONUNBUFFERED", "1")
        for name in (MODE_VARIABLE, SOCKET_VARIABLE):
            env.pop(name, None)
        return env


def load_env_file(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file: ``KEY=value`` lines, optional ``export``, quotes, and ``#`` comments.

    Raises:
        ValueError: A line is not an assignment; the message names the file and line.
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "a").isalnum():
            raise ValueError(f"{path}:{number}: expected KEY=value, got {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace("\\n", "\n").replace('\\"', '"')
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values
