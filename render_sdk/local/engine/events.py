"""In-process notification of finished runs, for the event stream.

Publishing never blocks: each subscriber has its own unbounded queue, so a slow or vanished SSE client cannot
stall the runs that publish (the official dev server's blocking fan-out can).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

__all__ = ["EventBus", "Subscription"]


class Subscription:
    """Terminal events of a fixed set of runs, as ``(event_seq, run_id)``; close it when done."""

    def __init__(self, bus: EventBus, run_ids: Iterable[str]) -> None:
        self.run_ids = frozenset(run_ids)
        self.queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self._bus = bus

    def close(self) -> None:
        """Stop receiving events."""
        self._bus._subscriptions.discard(self)


class EventBus:
    """Fan-out of terminal run events to subscribers."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def subscribe(self, run_ids: Iterable[str]) -> Subscription:
        """Start receiving events about ``run_ids``."""
        subscription = Subscription(self, run_ids)
        self._subscriptions.add(subscription)
        return subscription

    def publish(self, event_seq: int, run_id: str) -> None:
        """Tell every interested subscriber that ``run_id`` reached a terminal state."""
        for subscription in list(self._subscriptions):
            if run_id in subscription.run_ids:
                subscription.queue.put_nowait((event_seq, run_id))
