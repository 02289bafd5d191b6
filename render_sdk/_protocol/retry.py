"""How a task's registered retry policy becomes delays: the one formula both ends use.

Retry ``n`` (counting from 0 for the first retry, i.e. after attempt ``n + 1`` failed) waits
``wait_duration_ms * factor ** n`` milliseconds. The worker declares the policy at registration
(``options.retry``: ``max_retries``, ``wait_duration_ms``, ``factor``); Render applies it. Fields a worker
leaves out take Render's defaults below.

Two different defaults, not to be confused: these ``WIRE_DEFAULT_*`` values are what the platform applies to
a registration that leaves a field out (the rule any-language workers rely on), while the public
``render_sdk.Retry(max_retries, wait_duration_ms)`` defaults ``backoff_scaling`` to 1.5, as Render's official
Python SDK does, and always sends it.
"""

from __future__ import annotations

from typing import Final

__all__ = ["WIRE_DEFAULT_FACTOR", "WIRE_DEFAULT_MAX_RETRIES", "WIRE_DEFAULT_WAIT_MS", "retry_delay_ms"]

WIRE_DEFAULT_MAX_RETRIES: Final = 0
"""No retries when a task registers no ``retry`` or no ``max_retries``."""
WIRE_DEFAULT_WAIT_MS: Final = 0
WIRE_DEFAULT_FACTOR: Final = 2.0


def retry_delay_ms(wait_duration_ms: float, factor: float, retry_number: int) -> float:
    """Milliseconds to wait before retry ``retry_number`` (0 for the first retry)."""
    return wait_duration_ms * float(factor) ** retry_number
