"""Concurrency slots: ``max_concurrency`` bounds the attempts running task code, not those only waiting.

An attempt takes a slot to start. While it waits on an unfinished subtask (its ``/get-subtask-result`` found
the subtask still running) it is *parked*: it gives its slot up, because on Render every subtask runs on its
own instance and a parent that only waits must not keep its subtasks from starting (with slots held by
waiting parents, a tree deeper than ``max_concurrency`` would deadlock). A parked attempt gets a finished
result only once it holds a slot again: resuming parents go before new starts, so trees finish first.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable

__all__ = ["AttemptSlot", "Slots"]


class Slots:
    """``capacity`` slots, handed to resuming attempts first and then to new ones.

    Args:
        capacity: The most attempts running task code at once.
        on_free: Called (synchronously) when a slot became free for a new attempt.
    """

    def __init__(self, capacity: int, on_free: Callable[[], None]) -> None:
        if capacity < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {capacity}")
        self.capacity = capacity
        self.in_use = 0
        self.peak = 0
        self._on_free = on_free
        self._resuming: collections.deque[asyncio.Future[None]] = collections.deque()

    def take_for_start(self) -> AttemptSlot | None:
        """A slot for a new attempt, or None when none is free (or a parked attempt waits to resume)."""
        if self.in_use >= self.capacity or any(not waiter.done() for waiter in self._resuming):
            return None
        self._take()
        return AttemptSlot(self)

    async def take_for_resume(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a slot, ahead of every new attempt; whether one was taken."""
        if self.in_use < self.capacity and not self._resuming:
            self._take()
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._resuming.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
            return True
        except asyncio.TimeoutError:
            if waiter.done():  # handed over just as the wait ran out: keep it
                return True
            waiter.cancel()
            return False
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed over, but whoever waited is gone
                self.release()
            waiter.cancel()
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._resuming.remove(waiter)

    def release(self) -> None:
        """Give a slot back: to the first attempt waiting to resume, else to a new attempt."""
        while self._resuming:
            waiter = self._resuming.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on; in_use is unchanged
                return
        self.in_use -= 1
        self._on_free()

    def _take(self) -> None:
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)


class AttemptSlot:
    """One attempt's hold on a slot: held while it runs task code, given up while it is parked."""

    def __init__(self, slots: Slots) -> None:
        self._slots = slots
        self.holding = True
        self._resumed: asyncio.Future[None] | None = None
        self._taking = False
        self._ended = False

    def park(self) -> None:
        """The attempt waits on an unfinished subtask: give the slot up (a no-op if already parked)."""
        if self.holding and not self._ended:
            self.holding = False
            self._slots.release()

    async def resume(self, timeout: float) -> bool:
        """Hold a slot again, waiting up to ``timeout`` seconds; whether the attempt now holds one."""
        if self.holding:
            return True
        if self._ended:
            return False
        if self._taking:  # another request of this attempt is getting the slot: one is enough
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.next_resume()), timeout)
            return self.holding
        self._taking = True
        try:
            taken = await self._slots.take_for_resume(timeout)
        finally:
            self._taking = False
        if not taken:
            return False
        if self._ended:  # it ended while waiting: the slot it got goes back
            self._slots.release()
            return False
        self.holding = True
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)
        return True

    def next_resume(self) -> asyncio.Future[None]:
        """Resolves when the attempt next resumes (another of its requests got a result)."""
        if self._resumed is None or self._resumed.done():
            self._resumed = asyncio.get_running_loop().create_future()
        return self._resumed

    def end(self) -> None:
        """The attempt is over (its processes are gone): give the slot back if it holds one."""
        if self._ended:
            return
        self._ended = True
        if self.holding:
            self.holding = False
            self._slots.release()
