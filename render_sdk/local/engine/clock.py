"""Time as the engine sees it, replaceable by its caller (tests use a fake one that moves only when told)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol

__all__ = ["Clock", "SystemClock", "TimerHandle"]


class TimerHandle(Protocol):
    """A scheduled callback that can still be called off."""

    def cancel(self) -> None:
        """Do not call the callback (a no-op once it ran)."""


class Clock(Protocol):
    """Wall-clock time for records, and timers for retries and timeouts."""

    def now(self) -> datetime:
        """The current time, in UTC."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Call ``callback`` in ``delay`` seconds (on the event loop)."""


class SystemClock:
    """The real clock: ``datetime.now`` and the running event loop's timers."""

    def now(self) -> datetime:
        """The current time, in UTC."""
        return datetime.now(timezone.utc)

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Call ``callback`` in ``delay`` seconds on the running loop."""
        return asyncio.get_running_loop().call_later(delay, callback)
