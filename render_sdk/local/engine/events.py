"""In-process notification of finished runs, for the event stream.

Publishing never blocks: each subscriber keeps its own unbounded list of events, so a slow or vanished SSE
client cannot stall the runs that publish (the official dev server's blocking fan-out can). Subscriptions are
indexed by run, so publishing an event costs one step per subscriber of that run, however many streams are
open for other runs.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterable
from typing import Any

__all__ = ["EventBus", "Subscription"]


class Subscription:
    """Terminal events of a fixed set of runs, as ``(event_seq, run_id)``; close it when done."""

    def __init__(self, bus: EventBus, run_ids: Iterable[str]) -> None:
        self.run_ids = frozenset(run_ids)
        self._bus = bus
        self._events: collections.deque[tuple[int, str]] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None

    def take(self) -> list[tuple[int, str]]:
        """The events received since the last call, oldest first."""
        events = list(self._events)
        self._events.clear()
        return events

    async def wait(self, timeout: float | None = None) -> None:
        """Return once there is an event to :meth:`take`, :meth:`wake` was called, or ``timeout`` passed."""
        if self._events:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, _resolve, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def wake(self) -> None:
        """End a :meth:`wait` in progress (something else than an event needs the subscriber's attention)."""
        if self._waiter is not None:
            _resolve(self._waiter)

    def wake_on(self, future: asyncio.Future[Any]) -> None:
        """:meth:`wake`, as a done callback of ``future``."""
        self.wake()

    def deliver(self, event_seq: int, run_id: str) -> None:
        """Keep an event for the subscriber (the bus calls this)."""
        self._events.append((event_seq, run_id))
        self.wake()

    def close(self) -> None:
        """Stop receiving events."""
        self._bus._unsubscribe(self)


class EventBus:
    """Fan-out of terminal run events to subscribers."""

    def __init__(self) -> None:
        self._by_run: dict[str, set[Subscription]] = {}

    def subscribe(self, run_ids: Iterable[str]) -> Subscription:
        """Start receiving events about ``run_ids``."""
        subscription = Subscription(self, run_ids)
        for run_id in subscription.run_ids:
            self._by_run.setdefault(run_id, set()).add(subscription)
        return subscription

    def publish(self, event_seq: int, run_id: str) -> None:
        """Tell every interested subscriber that ``run_id`` reached a terminal state."""
        for subscription in list(self._by_run.get(run_id, ())):
            subscription.deliver(event_seq, run_id)

    def _unsubscribe(self, subscription: Subscription) -> None:
        for run_id in subscription.run_ids:
            subscribers = self._by_run.get(run_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._by_run[run_id]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
