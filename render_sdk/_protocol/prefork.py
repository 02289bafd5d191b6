"""The control protocol between ``render-workflows dev --prefork`` and its zygote (one Unix stream socket).

JSON lines both ways. The runtime sends :class:`Fork` with exactly :data:`FDS_PER_FORK` file descriptors
attached (SCM_RIGHTS: the write ends of the attempt's stdout and stderr pipes), and :class:`Retire` to stop
forking and exit once the last child is reaped. The zygote answers :class:`Ready` or :class:`Refused` once the
program is imported, then :class:`Forked` (only after the child has its own session, so the runtime can signal
its process group at once) or :class:`ForkFailed` for each fork, and :class:`Exited` when it reaps a child
(``status`` as ``subprocess`` reports it: negative means killed by that signal). End of file means the other
side is gone.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypedDict

__all__ = [
    "FDS_PER_FORK",
    "Exited",
    "Fork",
    "ForkFailed",
    "Forked",
    "LineReader",
    "Ready",
    "Refused",
    "Retire",
    "RuntimeMessage",
    "ZygoteMessage",
    "encode",
]

FDS_PER_FORK = 2
"""Descriptors attached to every :class:`Fork`: the attempt's stdout and stderr."""


class Fork(TypedDict):
    """Runtime -> zygote: fork a child for request ``id`` with these extra environment variables."""

    op: Literal["fork"]
    id: int
    env: dict[str, str]


class Retire(TypedDict):
    """Runtime -> zygote: fork no more; exit once every child has been reaped."""

    op: Literal["retire"]


class Ready(TypedDict):
    """Zygote -> runtime: the program is imported and forking is safe."""

    event: Literal["ready"]


class Refused(TypedDict):
    """Zygote -> runtime: forking would not behave like a cold start; ``reason`` says why."""

    event: Literal["refused"]
    reason: str


class Forked(TypedDict):
    """Zygote -> runtime: request ``id`` is child ``pid``, already the leader of its own session."""

    event: Literal["forked"]
    id: int
    pid: int


class ForkFailed(TypedDict):
    """Zygote -> runtime: ``fork()`` failed for request ``id``."""

    event: Literal["fork_failed"]
    id: int
    error: str


class Exited(TypedDict):
    """Zygote -> runtime: the child of request ``id`` exited with ``status``."""

    event: Literal["exited"]
    id: int
    status: int


RuntimeMessage = Fork | Retire
ZygoteMessage = Ready | Refused | Forked | ForkFailed | Exited


def encode(message: RuntimeMessage | ZygoteMessage) -> bytes:
    """One message as a JSON line."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class LineReader:
    """Splits a byte stream into the JSON messages it carries, keeping any partial last line."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[Any]:
        """The complete messages that ``data`` finishes, in order."""
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        return [json.loads(line) for line in lines if line]
