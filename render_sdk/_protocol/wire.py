"""Convert between callback-protocol dataclasses (``render_sdk_callback_api.models``) and JSON.

The local runtime's callback server (``render_sdk.local``) and the tests use this; a worker builds its few
bodies as plain dicts instead (:mod:`render_sdk.workflows._callbacks`). Absent optional fields are omitted,
never sent as ``null``, as the protocol requires. Payloads (``input``/``output``) are
:mod:`render_sdk._protocol.payload`'s, exported here too.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar, Union

from render_sdk._protocol.payload import WireError, decode_payload, encode_payload

__all__ = ["WireError", "decode_payload", "encode_payload", "from_wire", "to_wire"]

Model = TypeVar("Model")


def to_wire(model: Any) -> dict[str, Any]:
    """A dataclass as a JSON-ready dict, leaving out fields that are None."""
    body: dict[str, Any] = {}
    for field in dataclasses.fields(model):
        value = getattr(model, field.name)
        if value is None:
            continue
        if dataclasses.is_dataclass(value):
            value = to_wire(value)
        elif isinstance(value, list):
            value = [to_wire(item) if dataclasses.is_dataclass(item) else item for item in value]
        body[field.name] = value
    return body


@typing.no_type_check
def from_wire(cls: type[Model], data: Any, path: str = "body") -> Model:
    """Build ``cls`` from parsed JSON, checking required fields and types; a ``null`` counts as absent."""
    if not isinstance(data, dict):
        raise WireError(f"{path} must be a JSON object, got {type(data).__name__}")
    hints = _hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        value = data.get(field.name)
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if value is None:
            if required:
                raise WireError(f"{path}.{field.name} is required")
            continue
        values[field.name] = _convert(hints[field.name], value, f"{path}.{field.name}")
    return cls(**values)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


_PRIMITIVES: dict[Any, type | tuple[type, ...]] = {str: str, bool: bool, int: int, float: (int, float)}


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _convert(hint, value, path)
    if origin is list:
        if not isinstance(value, list):
            raise WireError(f"{path} must be an array, got {type(value).__name__}")
        (item_hint,) = typing.get_args(hint)
        return [_convert(item_hint, item, f"{path}[{index}]") for index, item in enumerate(value)]
    if dataclasses.is_dataclass(hint):
        return from_wire(hint, value, path)
    expected: type | tuple[type, ...] | None = _PRIMITIVES.get(hint)
    if expected is not None and (
        not isinstance(value, expected) or (hint is not bool and isinstance(value, bool))
    ):
        raise WireError(f"{path} must be {hint.__name__}, got {type(value).__name__}")
    return value
