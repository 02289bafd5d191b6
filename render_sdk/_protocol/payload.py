"""Task inputs and outputs as they cross the callback socket: standard padded base64 of strict JSON text.

Both ends use these: the worker, which builds and reads its few callback bodies as plain dicts
(:mod:`render_sdk.workflows._callbacks`), and the local runtime, which parses them into the generated
dataclasses (:mod:`render_sdk._protocol.wire`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from render_sdk._protocol.strict_json import InvalidJSON, dumps, loads

__all__ = ["WireError", "decode_payload", "encode_payload"]


class WireError(ValueError):
    """A callback-protocol body or payload does not match the spec."""


def encode_payload(value: Any) -> str:
    """Strict JSON text of ``value``, base64-encoded."""
    return base64.b64encode(dumps(value).encode()).decode("ascii")


def decode_payload(text: str | None, path: str = "payload") -> Any:
    """Decode a base64 JSON payload; an empty or absent payload is None.

    Raises:
        WireError: ``text`` is not base64, or not strict JSON once decoded.
    """
    if not text:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise WireError(f"{path} is not base64: {exc}") from None
    try:
        return loads(raw)
    except InvalidJSON as exc:
        raise WireError(f"{path} is not strict JSON: {exc}") from None
