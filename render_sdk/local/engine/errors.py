"""Why the engine refused a request: each maps to one 4xx where a server answers (REST or callback API)."""

from __future__ import annotations

__all__ = ["Conflict", "EngineError", "InvalidInput", "NotFound"]


class EngineError(Exception):
    """A request the engine refused; ``message`` says what and why, naming the run, task or field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(EngineError):
    """The run or task named does not exist (or is no longer registered)."""


class Conflict(EngineError):
    """The run is not in a state that allows this (e.g. canceling a finished run)."""


class InvalidInput(EngineError):
    """The request's values do not fit (e.g. input that is neither an array nor an object)."""
