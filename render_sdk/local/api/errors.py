"""The error every REST handler raises, answered as Render does with an ``{"id", "message"}`` JSON body
(plus a machine-readable ``code``, an extension documented in ``openapi/local-runtime.yaml`` that Render SDK
1.x clients expose as ``error.code``); and the one JSON response class of the API, which encodes strict JSON
(no NaN or Infinity)."""

from __future__ import annotations

import uuid
from typing import Any

from render_sdk_public_api.models import Error
from starlette.responses import JSONResponse

from render_sdk._protocol.strict_json import dumps
from render_sdk.local.engine.errors import Conflict, EngineError, InvalidInput, NotFound

__all__ = ["ERROR_CODES", "ApiError", "StrictJSONResponse", "error_response", "from_engine"]


class StrictJSONResponse(JSONResponse):
    """A JSON response encoded by :func:`render_sdk._protocol.strict_json.dumps`."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


ERROR_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    503: "unavailable",
}
"""The ``code`` of each error status the local runtime answers; anything else is ``internal_error``."""


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> StrictJSONResponse:
    """The JSON error body Render sends, with the local runtime's ``code``."""
    error = Error(id=f"err-{uuid.uuid4().hex[:20]}", message=message)
    error.additional_properties["code"] = ERROR_CODES.get(status, "internal_error")
    return StrictJSONResponse(error.to_dict(), status_code=status, headers=headers)


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
