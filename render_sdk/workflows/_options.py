"""Task options: the retry policy, the timeout and the resource plan, validated where they are given."""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string annotation of
# Options when the class is created, at `import render_sdk`.

from typing import Any, NamedTuple

from render_sdk._protocol.retry import retry_delay_ms

__all__ = [
    "DEFAULT_RETRY",
    "MAX_TIMEOUT_SECONDS",
    "MIN_TIMEOUT_SECONDS",
    "PLANS",
    "Options",
    "Retry",
    "check_plan",
    "check_retry",
    "check_timeout",
]

MIN_TIMEOUT_SECONDS = 30
MAX_TIMEOUT_SECONDS = 86_400
PLANS = ("starter", "standard", "pro")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Retry:
    """How Render retries a failed task run.

    Retry ``n`` (counting from 0) waits ``wait_duration_ms * backoff_scaling ** n`` milliseconds before it
    starts (:func:`render_sdk._protocol.retry.retry_delay_ms`). Immutable, and equal to another ``Retry``
    with the same values.

    ``backoff_scaling`` defaults to 1.5, as in Render's official SDK. That is this class's default only: a
    task registered without a factor gets the wire default of 2.0
    (:data:`render_sdk._protocol.retry.WIRE_DEFAULT_FACTOR`), which this SDK never relies on because it
    always sends the factor.

    Args:
        max_retries: Retries after the first attempt (total attempts = ``max_retries + 1``), at least 0.
        wait_duration_ms: Delay before the first retry, in milliseconds, at least 0.
        backoff_scaling: Factor applied to the delay after each retry, at least 1.
    """

    # A plain class rather than a frozen dataclass: `import render_sdk` then needs neither dataclasses nor
    # inspect, which would cost a worker more than everything else it imports to define its tasks.
    __slots__ = ("backoff_scaling", "max_retries", "wait_duration_ms")

    max_retries: int
    wait_duration_ms: int
    backoff_scaling: float

    def __init__(self, max_retries: int, wait_duration_ms: int, backoff_scaling: float = 1.5) -> None:
        if not _is_int(max_retries) or max_retries < 0:
            raise ValueError(f"Retry max_retries must be an int >= 0, got {max_retries!r}")
        if not _is_int(wait_duration_ms) or wait_duration_ms < 0:
            raise ValueError(f"Retry wait_duration_ms must be an int >= 0, got {wait_duration_ms!r}")
        scaling: Any = backoff_scaling
        if isinstance(scaling, bool) or not isinstance(scaling, (int, float)) or not scaling >= 1:
            raise ValueError(f"Retry backoff_scaling must be a number >= 1, got {scaling!r}")
        object.__setattr__(self, "max_retries", max_retries)
        object.__setattr__(self, "wait_duration_ms", wait_duration_ms)
        object.__setattr__(self, "backoff_scaling", backoff_scaling)

    def delay_ms(self, retry_number: int) -> float:
        """The wait before retry ``retry_number`` (0 for the first retry), in milliseconds."""
        return retry_delay_ms(self.wait_duration_ms, self.backoff_scaling, retry_number)

    def _values(self) -> tuple[int, int, float]:
        return (self.max_retries, self.wait_duration_ms, self.backoff_scaling)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Retry):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __reduce__(self) -> "tuple[type[Retry], tuple[int, int, float]]":
        # Copies and pickles are rebuilt through __init__, as __setattr__ refuses to restore the slots.
        return (Retry, self._values())

    def __repr__(self) -> str:
        return (
            f"Retry(max_retries={self.max_retries!r}, wait_duration_ms={self.wait_duration_ms!r}, "
            f"backoff_scaling={self.backoff_scaling!r})"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Retry is immutable; make a new one instead of setting {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Retry is immutable; cannot delete {name!r}")


DEFAULT_RETRY = Retry(max_retries=3, wait_duration_ms=1000, backoff_scaling=2.0)
"""The retry policy of a ``Workflows`` app that sets no ``default_retry``."""


def check_retry(retry: Any, where: str) -> Retry | None:
    """Return ``retry`` if it is a :class:`Retry` or None (no retries), else raise naming ``where``
    (e.g. ``"task 'square'"``)."""
    if retry is not None and not isinstance(retry, Retry):
        raise TypeError(f"{where}: retry must be a render_sdk.Retry or None, got {retry!r}")
    return retry


def check_timeout(timeout: Any, where: str) -> int:
    """Return ``timeout`` if it is a whole number of seconds in range, else raise naming ``where``."""
    if not _is_int(timeout) or not MIN_TIMEOUT_SECONDS <= timeout <= MAX_TIMEOUT_SECONDS:
        raise ValueError(
            f"{where}: timeout must be an int number of seconds from {MIN_TIMEOUT_SECONDS} to "
            f"{MAX_TIMEOUT_SECONDS}, got {timeout!r}"
        )
    return int(timeout)


def check_plan(plan: Any, where: str) -> str:
    """Return ``plan`` if it names a resource plan, else raise naming ``where``."""
    if plan not in PLANS:
        raise ValueError(f"{where}: plan must be one of {', '.join(map(repr, PLANS))}, got {plan!r}")
    return str(plan)


class Options(NamedTuple):
    """A task's effective options: its own overrides, or else its app's defaults."""

    retry: Retry | None
    """None: no retries."""
    timeout: int
    plan: str
