"""``strict_json.loads``: strict JSON in, or an ``InvalidJSON`` naming the problem and where; nothing else.

Explicit cases for each kind of input Python's ``json`` accepts or fails on with another exception, and
properties (hypothesis): valid documents decode as ``json`` decodes them; a bad token anywhere is reported
at its position; any text at all gives a value or an ``InvalidJSON``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from render_sdk._protocol.strict_json import MAX_DEPTH, MAX_INTEGER_DIGITS, InvalidJSON, dumps, loads

PROPERTY = settings(
    max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

LONG_INTEGER = "9" * (MAX_INTEGER_DIGITS + 1)


@pytest.mark.parametrize(
    ("text", "problem", "column"),
    [
        ('{"a": NaN}', "NaN is not a JSON value", 7),
        ("[1, Infinity]", "Infinity is not a JSON value", 5),
        ("[-Infinity]", "-Infinity is not a JSON value", 2),
        ('{"x": [1e400]}', "number 1e400 is too large for a 64-bit float", 8),
        ("-1.5E+400", "number -1.5E+400 is too large for a 64-bit float", 1),
        (f"[{LONG_INTEGER}]", f"integer of {MAX_INTEGER_DIGITS + 1} digits is longer than the limit", 2),
        (f'["x", -{LONG_INTEGER}]', f"integer of {MAX_INTEGER_DIGITS + 1} digits", 8),
        ('["\\ud800"]', "lone surrogate \\ud800 is not Unicode", 3),
        ('["ok", "\\uDC00"]', "lone surrogate \\uDC00 is not Unicode", 9),
        ('["\\ud800\\u0041"]', "lone surrogate \\ud800 is not Unicode", 3),
        ('["\\ude00\\ud83d"]', "lone surrogate \\ude00 is not Unicode", 3),
        ('{"k": "\ud800"}', "lone surrogate U+D800 is not Unicode", 8),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"nesting is deeper than {MAX_DEPTH} levels", 257),
        ("[1, 2,", "Expecting value", 7),
        ("", "Expecting value", 1),
    ],
)
def test_rejects_with_problem_and_position(text: str, problem: str, column: int) -> None:
    with pytest.raises(InvalidJSON) as caught:
        loads(text)
    assert caught.value.problem.startswith(problem)
    assert (caught.value.line, caught.value.column) == (1, column)
    assert str(caught.value).endswith(f"at line 1 column {column} (char {column - 1})")


def test_position_counts_lines() -> None:
    with pytest.raises(InvalidJSON, match=r"NaN is not a JSON value at line 3 column 5 \(char 11\)"):
        loads("[\n  1,\n    NaN]")


def test_invalid_utf8_names_the_byte() -> None:
    with pytest.raises(InvalidJSON, match=r"^byte 2 is not valid UTF-8 \(invalid start byte\)$"):
        loads(b'["\xff"]')


def test_a_million_levels_are_rejected_without_recursion_error() -> None:
    with pytest.raises(InvalidJSON, match=f"nesting is deeper than {MAX_DEPTH} levels"):
        loads("[" * 1_000_000)
    with pytest.raises(InvalidJSON, match=f"nesting is deeper than {MAX_DEPTH} levels"):
        loads('{"a":' * 2000 + "1" + "}" * 2000)


def test_the_deepest_allowed_nesting_decodes() -> None:
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) == _nested(MAX_DEPTH)


def _nested(depth: int) -> Any:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    "text",
    [
        '["NaN", "Infinity", "-Infinity", "1e400"]',
        '{"NaN": 1, "Infinity": [1e308, -1e308]}',
        '["\\\\ud800"]',  # an escaped backslash, then the letters "ud800"
        '["\\ud83d\\ude00"]',  # a surrogate pair: one character
        '["' + "[" * 1000 + '"]',  # brackets inside a string are not nesting
        '["\\"[[[[", ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "]",
        f'"{LONG_INTEGER}"',
        "-0.0",
        '{"a": 1, "a": 2}',
    ],
)
def test_accepts_what_only_looks_bad(text: str) -> None:
    assert loads(text) == json.loads(text)


def test_duplicate_keys_keep_the_last_value() -> None:
    assert loads('{"task": "a", "task": "b"}') == {"task": "b"}


@pytest.fixture
def int_digit_limit() -> Iterator[None]:
    if not hasattr(sys, "set_int_max_str_digits"):
        pytest.skip("this interpreter has no integer digit limit")
    before = sys.get_int_max_str_digits()
    try:
        yield
    finally:
        sys.set_int_max_str_digits(before)


@pytest.mark.usefixtures("int_digit_limit")
@pytest.mark.parametrize(("limit", "digits", "allowed"), [(1000, 2000, 1000), (0, 5000, MAX_INTEGER_DIGITS)])
def test_integer_limit_holds_whatever_the_interpreter_allows(limit: int, digits: int, allowed: int) -> None:
    sys.set_int_max_str_digits(limit)
    expected = f"integer of {digits} digits is longer than the limit of {allowed}"
    with pytest.raises(InvalidJSON, match=expected):
        loads(f'["x", {"7" * digits}]')


# --------------------------------------------------------------------------- properties

TRICKY_STRINGS = st.sampled_from(["NaN", "Infinity", "1e400", '\\"', "\\ud800", "[[{", LONG_INTEGER[:50]])
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | TRICKY_STRINGS
)
JSON_VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)
BAD_TOKENS = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "12e9999", LONG_INTEGER, '"\\ud800"', '"\\udfff"']
)


@PROPERTY
@given(JSON_VALUES)
def test_valid_documents_decode_as_json_does(value: Any) -> None:
    text = dumps(value)
    assert loads(text) == json.loads(text)
    assert loads(text.encode()) == json.loads(text)


@PROPERTY
@given(JSON_VALUES, BAD_TOKENS, JSON_VALUES)
def test_a_bad_token_is_reported_where_it_is(before: Any, bad: str, after: Any) -> None:
    prefix = f'{{"before": {dumps(before)}, "bad": ['
    text = f'{prefix}{bad}], "after": {dumps(after)}}}'
    with pytest.raises(InvalidJSON) as caught:
        loads(text)
    position = caught.value.position
    assert position is not None
    # The position is the token itself, or (for a surrogate) the escape inside its quotes.
    assert position in (len(prefix), len(prefix) + 1), (text, str(caught.value))


@PROPERTY
@given(st.lists(st.sampled_from(["[", '{"k":']), min_size=1, max_size=MAX_DEPTH + 50))
def test_nesting_is_rejected_exactly_past_the_limit(openers: list[str]) -> None:
    closers = "".join("]" if opener == "[" else "}" for opener in reversed(openers))
    text = "".join(openers) + "0" + closers
    if len(openers) <= MAX_DEPTH:
        assert loads(text) == json.loads(text)
    else:
        with pytest.raises(InvalidJSON, match=f"nesting is deeper than {MAX_DEPTH} levels"):
            loads(text)


@PROPERTY
@given(st.text() | st.binary() | JSON_VALUES.map(dumps).map(lambda text: text[: len(text) // 2]))
def test_any_input_gives_a_value_or_invalid_json(data: str | bytes) -> None:
    try:
        value = loads(data)
    except InvalidJSON as error:
        assert str(error)
        return
    assert value == json.loads(data)
