"""The environment Render starts a worker program with: what to do, and where to talk to Render."""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["MODES", "MODE_VARIABLE", "SOCKET_VARIABLE", "Mode", "attempt_variables"]

MODE_VARIABLE: Final = "RENDER_SDK_MODE"
"""``register`` (report the tasks this program defines) or ``run`` (run one task)."""

SOCKET_VARIABLE: Final = "RENDER_SDK_SOCKET_PATH"
"""The Unix socket the worker sends its callback-protocol requests to."""

Mode = Literal["register", "run"]
MODES: Final[tuple[Mode, ...]] = ("register", "run")


def attempt_variables(mode: Mode, socket_path: str) -> dict[str, str]:
    """The variables that differ between worker processes: the mode and the process's own socket."""
    return {MODE_VARIABLE: mode, SOCKET_VARIABLE: socket_path}
