"""Task options: the retry policy, the timeout and the resource plan, validated where they are given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from render_sdk_callback_api.models import RetryOptions, TaskOptions

__all__ = [
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


@dataclass(frozen=True)
class Retry:
    """How Render retries a failed task run.

    Attempt ``n`` (counting retries from 0) waits ``wait_duration_ms * backoff_scaling ** n`` milliseconds
    before it starts.

    Args:
        max_retries: Retries after the first attempt (total attempts = ``max_retries + 1``), at least 0.
        wait_duration_ms: Delay before the first retry, in milliseconds, at least 0.
        backoff_scaling: Factor applied to the delay after each retry, at least 1.
    """

    max_retries: int
    wait_duration_ms: int
    backoff_scaling: float = 1.5

    def __post_init__(self) -> None:
        if not _is_int(self.max_retries) or self.max_retries < 0:
            raise ValueError(f"Retry max_retries must be an int >= 0, got {self.max_retries!r}")
        if not _is_int(self.wait_duration_ms) or self.wait_duration_ms < 0:
            raise ValueError(f"Retry wait_duration_ms must be an int >= 0, got {self.wait_duration_ms!r}")
        scaling = self.backoff_scaling
        if isinstance(scaling, bool) or not isinstance(scaling, (int, float)) or not scaling >= 1:
            raise ValueError(f"Retry backoff_scaling must be a number >= 1, got {scaling!r}")

    def delay_ms(self, retry_number: int) -> float:
        """The wait before retry ``retry_number`` (0 for the first retry), in milliseconds."""
        return self.wait_duration_ms * float(self.backoff_scaling) ** retry_number

    def to_wire(self) -> RetryOptions:
        """The callback protocol's ``retry`` object (``backoff_scaling`` travels as ``factor``)."""
        return RetryOptions(
            max_retries=self.max_retries,
            wait_duration_ms=self.wait_duration_ms,
            factor=float(self.backoff_scaling),
        )


def check_retry(retry: Any, where: str) -> Retry:
    """Return ``retry`` if it is a :class:`Retry`, else raise naming ``where`` (e.g. ``"task 'square'"``)."""
    if not isinstance(retry, Retry):
        raise TypeError(f"{where}: retry must be a render_sdk.Retry, got {retry!r}")
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


@dataclass(frozen=True)
class Options:
    """A task's effective options: its own overrides, or else its app's defaults."""

    retry: Retry
    timeout: int
    plan: str

    def to_wire(self) -> TaskOptions:
        return TaskOptions(retry=self.retry.to_wire(), timeout_seconds=self.timeout, plan=self.plan)
