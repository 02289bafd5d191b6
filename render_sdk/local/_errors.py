"""The error every REST handler raises: answered as Render does, with an ``{"id", "message"}`` JSON body."""

from __future__ import annotations

__all__ = ["ApiError"]


class ApiError(Exception):
    """Answered as ``status`` with an ``{"id", "message"}`` body (and ``headers``, if given)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
