"""Strict JSON for everything that crosses a wire: task inputs, arguments and results.

Python's ``json`` accepts NaN and Infinity and reports a bad value without saying where it is. Task inputs
and results travel through Render's Go services, which reject both, so the SDK checks values up front and
names the offending path (``input_data[1]["when"]``) in its error.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["dumps", "find_non_json"]


def find_non_json(value: Any, path: str) -> str | None:
    """Return a description of the first value that is not strict JSON, or None when all of it is.

    Args:
        value: The value to check: dicts with str keys, lists, tuples, str, int, float, bool and None.
        path: How the caller names ``value`` in messages, e.g. ``"input_data"``.
    """
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if item is None or isinstance(item, (str, bool, int)):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return f"{where} is {item!r}, which JSON cannot represent"
            continue
        if isinstance(item, (list, tuple)):
            stack.extend((element, f"{where}[{index}]") for index, element in reversed(list(enumerate(item))))
            continue
        if isinstance(item, dict):
            for key, element in reversed(list(item.items())):
                if not isinstance(key, str):
                    key_type = type(key).__name__
                    return f"{where} has a key {key!r} of type {key_type}; JSON object keys must be str"
                stack.append((element, f"{where}[{key!r}]".replace("'", '"')))
            continue
        return f"{where} is of type {type(item).__name__}, which is not JSON-serializable"
    return None


def dumps(value: Any) -> str:
    """Serialize strict JSON (no NaN or Infinity), compactly."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
