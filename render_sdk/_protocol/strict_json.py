"""Strict JSON for everything that crosses a wire: task inputs, arguments and results.

Python's ``json`` accepts NaN and Infinity and reports a bad value without saying where it is. Task inputs
and results travel through Render's Go services, which reject both, so the SDK checks values up front and
names the offending path (``input_data[1]["when"]``) in its error.

:func:`loads` is the decoder for what arrives from outside. Beyond RFC 8259 syntax it rejects what
``json`` lets through or fails on with some other exception: ``NaN``/``Infinity``/``-Infinity``, numbers that
overflow a 64-bit float (``1e400``), integers of more than :data:`MAX_INTEGER_DIGITS` digits (Python's own
limit, which ``json`` reports as a bare ``ValueError``), lone surrogates (``"\\ud800"``, not Unicode), text
that is not UTF-8 and nesting deeper than :data:`MAX_DEPTH` (``json`` raises ``RecursionError`` near 1,000).
Every problem is an :class:`InvalidJSON` naming it and where. A key repeated in an object keeps its last
value, as in Render's Go services (``encoding/json``) and Python's ``json``.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Any, NoReturn

__all__ = ["MAX_DEPTH", "MAX_INTEGER_DIGITS", "InvalidJSON", "dumps", "find_non_json", "loads"]

MAX_DEPTH = 256
"""The deepest nesting of arrays and objects :func:`loads` accepts."""

MAX_INTEGER_DIGITS = 4300
"""The longest integer :func:`loads` accepts, in digits: Python's default ``int`` conversion limit."""


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
    return _ENCODER.encode(value)


# One encoder for every call: json.dumps builds a new one whenever it is given options.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"), ensure_ascii=False)


class InvalidJSON(ValueError):
    """Text that is not strict JSON.

    Attributes:
        problem: What is wrong, e.g. ``"NaN is not a JSON value"``.
        position: The character offset where it is, or None when no single place is to blame.
        line: The 1-based line of ``position`` (0 when it is None).
        column: The 1-based column of ``position`` (0 when it is None).
    """

    def __init__(self, problem: str, text: str = "", position: int | None = None) -> None:
        self.problem = problem
        self.position = position
        self.line = self.column = 0
        message = problem
        if position is not None:
            self.line = text.count("\n", 0, position) + 1
            self.column = position - (text.rfind("\n", 0, position) + 1) + 1
            message = f"{problem} at line {self.line} column {self.column} (char {position})"
        super().__init__(message)


def loads(data: str | bytes | bytearray | memoryview) -> Any:
    """Decode strict JSON (UTF-8 when given bytes).

    Raises:
        InvalidJSON: ``data`` is not strict JSON; the message names the problem and its line and column.
    """
    text = _text(data)
    _check_depth(text)
    limit = _interpreter_digits()
    decoder = _INTERPRETER_INTS if 0 < limit <= MAX_INTEGER_DIGITS else _COUNTED_INTS
    try:
        value = decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidJSON(exc.msg, text, exc.pos) from None
    except _Rejected as exc:
        raise InvalidJSON(exc.problem, text, exc.locate(text)) from None
    except ValueError:  # int() refused a number longer than the interpreter's limit
        raise _too_long_integer(text, limit) from None
    except RecursionError:  # only when the caller's own stack is already nearly full
        raise InvalidJSON(f"nesting is too deep for the caller's stack (limit {MAX_DEPTH})") from None
    _check_escaped_surrogates(text)
    return value


def _text(data: str | bytes | bytearray | memoryview) -> str:
    """The text of ``data``, which must be UTF-8 (a ``str`` must encode to it: no lone surrogates)."""
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as exc:
            problem = f"lone surrogate U+{ord(data[exc.start]):04X} is not Unicode"
            raise InvalidJSON(problem, data, exc.start) from None
        return data
    raw = bytes(data)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJSON(f"byte {exc.start} is not valid UTF-8 ({exc.reason})") from None


class _Rejected(Exception):
    """Raised from the decoder's hooks, which do not know where in the text they are."""

    def __init__(self, problem: str, locate: Callable[[str], int | None]) -> None:
        super().__init__(problem)
        self.problem = problem
        self.locate = locate


_SPECIAL = re.compile(r'["\\\[\]{}]')


def _structure(text: str) -> Iterator[tuple[int, str]]:
    """The offset and character of every bracket outside strings and of every quote that opens or closes one.

    One pass over the special characters: no regular expression that could backtrack on hostile text.
    """
    in_string = False
    escaped = -1
    for match in _SPECIAL.finditer(text):
        offset = match.start()
        if offset == escaped:
            continue
        char = match.group()
        if in_string:
            if char == "\\":
                escaped = offset + 1
            elif char == '"':
                in_string = False
                yield offset, char
        elif char == '"':
            in_string = True
            yield offset, char
        elif char != "\\":
            yield offset, char


def _outside_strings(pattern: str) -> Callable[[str], int | None]:
    """Finds the first match of ``pattern`` outside strings (where the decoder stopped)."""
    compiled = re.compile(pattern)

    def locate(text: str) -> int | None:
        start = 0
        quotes = (offset for offset, char in _structure(text) if char == '"')
        for opening in quotes:
            match = compiled.search(text, start, opening)
            if match is not None:
                return match.start()
            start = next(quotes, len(text) - 1) + 1
        match = compiled.search(text, start)
        return match.start() if match is not None else None

    return locate


def _number(token: str) -> Callable[[str], int | None]:
    return _outside_strings(rf"(?<![\w.+-]){re.escape(token)}(?![\w.+-])")


def _reject_constant(name: str) -> NoReturn:
    raise _Rejected(f"{name} is not a JSON value", _outside_strings(re.escape(name)))


def _parse_float(token: str) -> float:
    value = float(token)
    if math.isinf(value):
        raise _Rejected(f"number {_abbreviated(token)} is too large for a 64-bit float", _number(token))
    return value


def _parse_int(token: str) -> int:
    digits = len(token) - token.startswith("-")
    if digits > MAX_INTEGER_DIGITS:
        raise _Rejected(_integer_problem(digits, MAX_INTEGER_DIGITS), _number(token))
    return int(token)


def _integer_problem(digits: int, limit: int) -> str:
    return f"integer of {digits} digits is longer than the limit of {limit} digits"


def _too_long_integer(text: str, limit: int) -> InvalidJSON:
    position = _outside_strings(rf"(?<![0-9])[0-9]{{{limit + 1},}}")(text)
    digits = _DIGITS.match(text, position) if position is not None else None
    if digits is None:
        return InvalidJSON(f"an integer is longer than the limit of {limit} digits")
    return InvalidJSON(_integer_problem(len(digits.group()), limit), text, position)


def _abbreviated(token: str) -> str:
    return token if len(token) <= 40 else f"{token[:20]}...{token[-10:]} ({len(token)} characters)"


# Where the interpreter itself refuses integers past MAX_INTEGER_DIGITS (3.11, 3.10.7 and later, by default),
# its own int() does and its ValueError is caught; elsewhere (no limit, or a higher one) a hook counts digits.
_INTERPRETER_INTS = json.JSONDecoder(parse_float=_parse_float, parse_constant=_reject_constant)
_COUNTED_INTS = json.JSONDecoder(
    parse_float=_parse_float, parse_constant=_reject_constant, parse_int=_parse_int
)
_DIGITS = re.compile("[0-9]+")


def _interpreter_digits() -> int:
    """The interpreter's limit on digits in ``int(str)``: 0 when it has none."""
    get_limit: Callable[[], int] = getattr(sys, "get_int_max_str_digits", lambda: 0)
    return get_limit()


_BRACKET = re.compile(r"[\[\]{}]")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _check_depth(text: str) -> None:
    """Reject nesting deeper than :data:`MAX_DEPTH` before ``json`` recurses into it."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    # Fast: drop escaped backslashes and quotes, then every string; the brackets left are the structure.
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    outside = "".join(unescaped.split('"')[::2])
    if max(accumulate(map(_STEP.__getitem__, _BRACKET.findall(outside))), default=0) <= MAX_DEPTH:
        return
    depth = 0
    position = None
    for offset, char in _structure(text):
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                position = offset
                break
        elif char in "]}":
            depth -= 1
    raise InvalidJSON(f"nesting is deeper than {MAX_DEPTH} levels", text, position)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Any escape: \u with its code, or another one (so that an escaped backslash before "ud800" is skipped).
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)


def _check_escaped_surrogates(text: str) -> None:
    """Reject a ``\\u`` escape of a surrogate that is not half of a pair: it is not Unicode."""
    if _SURROGATE_ESCAPE.search(text) is None:
        return
    high: re.Match[str] | None = None
    for match in _ESCAPE.finditer(text):
        code = int(match.group(1), 16) if match.group(1) else 0
        if high is not None:
            if 0xDC00 <= code <= 0xDFFF and match.start() == high.end():
                high = None
                continue
            _lone_surrogate(text, high)
        if 0xD800 <= code <= 0xDBFF:
            high = match
        elif 0xDC00 <= code <= 0xDFFF:
            _lone_surrogate(text, match)
    if high is not None:
        _lone_surrogate(text, high)


def _lone_surrogate(text: str, escape: re.Match[str]) -> NoReturn:
    raise InvalidJSON(f"lone surrogate {escape.group()} is not Unicode", text, escape.start())
