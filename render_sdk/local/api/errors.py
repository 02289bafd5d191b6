"""The error every REST handler raises: answered as Render does, with an ``{"id", "message"}`` JSON body."""

from __future__ import annotations

from render_sdk.local.engine.errors import Conflict, EngineError, InvalidInput, NotFound

__all__ = ["ApiError", "from_engine"]


class ApiError(Exception):
    """Answered as ``status`` with an ``{"id", "message"}`` body (and ``headers``, if given)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


_STATUS = {NotFound: 404, Conflict: 409, InvalidInput: 400}


def from_engine(error: EngineError) -> ApiError:
    """The REST answer to a request the engine refused."""
    return ApiError(_STATUS.get(type(error), 400), error.message)
