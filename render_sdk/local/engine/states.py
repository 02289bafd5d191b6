"""The run state machine: the only code that changes a run's status, with every transition's guard.

::

    pending --start_attempt--> running --complete_attempt--> completed
       ^                          |
       +----- retry scheduled ----+--fail_attempt (no retries left)--> failed
    pending / running --cancel_tree--> canceled

Retries, timeouts, process exits, cancellation and restarts all end up here, so they cannot disagree about
what happened. Every transition is one SQLite transaction. After it commits, what happened is announced to
every listener (:meth:`RunStates.listen`), in order: the attempts layer reacts to those announcements, and
nothing in the engine calls it. A transition into a terminal state takes the next event sequence number (the
SSE event id) and is also published on the event bus. A late or duplicate report about an attempt that is no
longer running is ignored, which makes ``/callback`` idempotent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from render_sdk._protocol.retry import retry_delay_ms
from render_sdk._protocol.strict_json import dumps
from render_sdk.local.engine.clock import Clock, SystemClock
from render_sdk.local.engine.errors import Conflict, NotFound
from render_sdk.local.engine.events import EventBus
from render_sdk.local.engine.ids import new_id
from render_sdk.local.engine.records import (
    TERMINAL_STATUSES,
    AttemptRecord,
    RunRecord,
    TaskRecord,
    timestamp,
)
from render_sdk.local.engine.store import Store

__all__ = [
    "IDEMPOTENCY_WINDOW",
    "Announcement",
    "AttemptEnded",
    "RetryScheduled",
    "RunEnded",
    "RunQueued",
    "RunStates",
    "ScheduledRetry",
]


IDEMPOTENCY_WINDOW = timedelta(hours=24)
"""How long a start request's idempotency key keeps returning the run it started (as on Render)."""


@dataclass(frozen=True)
class ScheduledRetry:
    """A retry that was scheduled: run it ``delay`` seconds from now (``due`` in wall-clock time)."""

    run_id: str
    delay: float
    due: datetime


@dataclass(frozen=True)
class RunQueued:
    """``run`` is pending and may start now: just created (``created``), or found pending after a restart."""

    run: RunRecord
    created: bool


@dataclass(frozen=True)
class RetryScheduled:
    """``run`` failed an attempt and waits ``retry.delay`` seconds before it may start again."""

    run: RunRecord
    retry: ScheduledRetry


@dataclass(frozen=True)
class AttemptEnded:
    """Attempt ``attempt`` of ``run_id`` is over: ``status`` is completed, failed or canceled."""

    run_id: str
    attempt: int
    status: str


@dataclass(frozen=True)
class RunEnded:
    """``run`` reached a terminal status; ``event_seq`` is its event id on the task-run event stream."""

    run: RunRecord
    event_seq: int


Announcement = RunQueued | RetryScheduled | AttemptEnded | RunEnded
Listener = Callable[[Announcement], None]


class RunStates:
    """Status transitions of task runs, persisted in ``store`` and announced to listeners and on ``bus``.

    Args:
        store: Where runs live.
        bus: Where terminal events are published (the event stream and :meth:`wait_final` read it).
        clock: The time written into records (a fake one in tests).
    """

    def __init__(self, store: Store, bus: EventBus | None = None, clock: Clock | None = None) -> None:
        self._store = store
        self.bus = bus if bus is not None else EventBus()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` with every announcement from now on, after the transition has committed."""
        self._listeners.append(listener)

    # ---- transitions ----------------------------------------------------------------------------------

    def create_run(self, task: TaskRecord, input_value: Any, idempotency_key: str | None = None) -> RunRecord:
        """Create a pending root run of ``task``, or return the run an earlier request with its key started.

        Args:
            task: The task to run.
            input_value: Its input, a JSON array or object.
            idempotency_key: The client's key for this start: a request with the same key in the same workflow
                within :data:`IDEMPOTENCY_WINDOW` gets the first request's run (its own input is ignored).
        """
        with self._store.transaction():
            if idempotency_key is not None:
                since = self.clock.now() - IDEMPOTENCY_WINDOW
                existing = self._store.find_started_run(task.workflow_id, idempotency_key, since)
                if existing is not None:
                    return existing
            record = self._new_run(task, input_value, None, None)
            key = None if idempotency_key is None else (idempotency_key, timestamp(record.created_at))
            run = self._store.insert_run(record, key)
        self._announce([RunQueued(run, created=True)])
        return run

    def create_subtask(
        self,
        parent_id: str,
        parent_attempt: int,
        task_name: str,
        input_value: Any,
        idempotency: tuple[str, str] | None = None,
    ) -> tuple[RunRecord, bool]:
        """Create a pending subtask run of a running parent, or return the one an identical request created.

        Args:
            parent_id: The run whose attempt asks.
            parent_attempt: That attempt.
            task_name: The registered task to run.
            input_value: Its input, a JSON array or object.
            idempotency: The worker's (key, created_at) for this request; a retried request carries the same.

        Returns:
            The run, and whether it was created by this call.

        Raises:
            NotFound: No such parent, or no such registered task.
            Conflict: The parent is not running.
        """
        with self._store.transaction():
            parent = self._store.get_run(parent_id)
            if parent is None:
                raise NotFound(f"parent task run {parent_id} not found")
            if parent.status == "canceled":
                raise Conflict(f"parent task run {parent_id} was canceled")
            if parent.status != "running":
                raise Conflict(f"parent task run {parent_id} is {parent.status}, not running")
            if idempotency is not None:
                existing = self._store.find_idempotent_run(parent.id, *idempotency)
                if existing is not None:
                    return existing, False
            task = self._store.get_task_by_name(task_name)
            if task is None or not task.active:
                known = ", ".join(t.name for t in self._store.list_tasks(active_only=True)) or "none"
                raise NotFound(f"task {task_name!r} not found (registered tasks: {known})")
            run = self._store.insert_run(
                self._new_run(task, input_value, parent, parent_attempt), idempotency
            )
        self._announce([RunQueued(run, created=True)])
        return run, True

    def start_attempt(self, run_id: str) -> tuple[RunRecord, int] | None:
        """Move a pending run to running with a new attempt; None if the run is no longer pending."""
        started = self.clock.now()
        with self._store.transaction():
            run = self._store.get_run(run_id)
            if run is None or run.status != "pending":
                return None
            attempt = self._store.count_attempts(run_id)
            self._store.insert_attempt(
                AttemptRecord(
                    run_id=run_id,
                    attempt=attempt,
                    status="running",
                    enqueued_at=run.queued_at,
                    started_at=started,
                    completed_at=None,
                    error=None,
                    results_json=None,
                )
            )
            updated = self._store.update_run(
                run, status="running", started_at=run.started_at or started, next_attempt_at=None, error=None
            )
        return updated, attempt

    def complete_attempt(self, run_id: str, attempt: int, results: list[Any]) -> bool:
        """Record a successful attempt; False if it is no longer running (a late or repeated report)."""
        finished = self.clock.now()
        with self._store.transaction():
            running = self._running(run_id, attempt)
            if running is None:
                return False
            # The results are stored once, with the run (the API shows them on the completed attempt too).
            self._store.finish_attempt(run_id, attempt, "completed", finished, None, None)
            event_seq = self._store.next_event_seq()
            run = self._store.update_run(
                running,
                status="completed",
                results_json=dumps(results),
                completed_at=finished,
                terminal_seq=event_seq,
            )
        self._announce([AttemptEnded(run_id, attempt, "completed"), RunEnded(run, event_seq)])
        return True

    def fail_attempt(self, run_id: str, attempt: int, error: str) -> ScheduledRetry | None:
        """Record a failed attempt and schedule a retry if the run's policy allows one.

        Returns:
            The scheduled retry, or None when the run failed for good or the attempt was no longer running.
        """
        finished = self.clock.now()
        with self._store.transaction():
            run = self._running(run_id, attempt)
            if run is None:
                return None
            self._store.finish_attempt(run_id, attempt, "failed", finished, error, None)
            retry = _retry_after(run, attempt, finished)
            if retry is not None:
                updated = self._store.update_run(
                    run, status="pending", queued_at=retry.due, next_attempt_at=retry.due
                )
            else:
                event_seq = self._store.next_event_seq()
                updated = self._store.update_run(
                    run, status="failed", error=error, completed_at=finished, terminal_seq=event_seq
                )
        ended = AttemptEnded(run_id, attempt, "failed")
        if retry is not None:
            self._announce([ended, RetryScheduled(updated, retry)])
        else:
            self._announce([ended, RunEnded(updated, event_seq)])
        return retry

    def cancel_tree(self, run_id: str) -> list[str]:
        """Cancel a run and every unfinished descendant, including those waiting for a retry.

        Returns:
            The IDs of the runs this call canceled, the given run first.

        Raises:
            NotFound: No such run.
            Conflict: The run has already finished.
        """
        finished = self.clock.now()
        announcements: list[Announcement] = []
        with self._store.transaction():
            run = self._store.get_run(run_id)
            if run is None:
                raise NotFound(f"task run {run_id} not found")
            if run.status in TERMINAL_STATUSES:
                raise Conflict(
                    f"task run {run_id} is already {run.status}; only pending or running runs can be canceled"
                )
            pending = [run_id]
            while pending:
                current = self._store.get_run(pending.pop())
                if current is None:
                    continue
                pending.extend(child.id for child in self._store.children(current.id))
                if current.status in TERMINAL_STATUSES:
                    continue
                attempts = self._store.attempts(current.id)
                if current.status == "running" and attempts:
                    last = attempts[-1].attempt
                    self._store.finish_attempt(current.id, last, "canceled", finished, "canceled", None)
                    announcements.append(AttemptEnded(current.id, last, "canceled"))
                event_seq = self._store.next_event_seq()
                canceled = self._store.update_run(
                    current,
                    status="canceled",
                    completed_at=finished,
                    next_attempt_at=None,
                    terminal_seq=event_seq,
                )
                announcements.append(RunEnded(canceled, event_seq))
        self._announce(announcements)
        return [a.run.id for a in announcements if isinstance(a, RunEnded)]

    def recover(self, reason: str) -> None:
        """After a restart: fail the attempts that were in flight, and announce every run still to be run.

        Args:
            reason: The error recorded on every interrupted attempt.
        """
        rescheduled = set()
        for run in self._store.runs_with_status(["running"]):
            attempts = self._store.attempts(run.id)
            # start_attempt writes the run and its attempt in one transaction, so a running run has one.
            if self.fail_attempt(run.id, attempts[-1].attempt, reason) is not None:
                rescheduled.add(run.id)
        announcements: list[Announcement] = []
        current = self.clock.now()
        for run in self._store.runs_with_status(["pending"]):
            if run.id in rescheduled:
                continue
            if run.next_attempt_at is None:
                announcements.append(RunQueued(run, created=False))
            else:
                delay = max(0.0, (run.next_attempt_at - current).total_seconds())
                announcements.append(RetryScheduled(run, ScheduledRetry(run.id, delay, run.next_attempt_at)))
        self._announce(announcements)

    # ---- waiting --------------------------------------------------------------------------------------

    async def wait_final(
        self, run_id: str, timeout: float, interrupt: asyncio.Future[Any] | None = None
    ) -> RunRecord | None:
        """The run as soon as it is final, or as it is after ``timeout`` seconds; None for an unknown run.

        Waits on the event bus, not by polling the store: a transition into a final state is published right
        after it commits. ``interrupt``, once done, ends the wait early too.
        """
        subscription = self.bus.subscribe([run_id])  # before reading, so no transition can slip between
        try:
            run = self._store.get_run(run_id)
            if run is None or run.status in TERMINAL_STATUSES or (interrupt is not None and interrupt.done()):
                return run
            if interrupt is not None:
                interrupt.add_done_callback(subscription.wake_on)
            try:
                await subscription.wait(timeout)
            finally:
                if interrupt is not None:
                    interrupt.remove_done_callback(subscription.wake_on)
            return self._store.get_run(run_id)
        finally:
            subscription.close()

    # ---- helpers --------------------------------------------------------------------------------------

    def _new_run(
        self, task: TaskRecord, input_value: Any, parent: RunRecord | None, parent_attempt: int | None
    ) -> RunRecord:
        run_id = new_id("trn")
        created = self.clock.now()
        spec = task.spec
        return RunRecord(
            seq=0,
            id=run_id,
            task_id=task.id,
            task_name=task.name,
            workflow_id=task.workflow_id,
            workflow_version_id=task.workflow_version_id,
            status="pending",
            input_json=dumps(input_value),
            results_json=None,
            error=None,
            parent_id=None if parent is None else parent.id,
            parent_attempt=parent_attempt,
            root_id=run_id if parent is None else parent.root_id,
            max_retries=spec.retry.max_retries,
            wait_duration_ms=spec.retry.wait_duration_ms,
            backoff_factor=spec.retry.factor,
            timeout_seconds=spec.timeout_seconds,
            created_at=created,
            queued_at=created,
            started_at=None,
            completed_at=None,
            next_attempt_at=None,
            terminal_seq=None,
        )

    def _running(self, run_id: str, attempt: int) -> RunRecord | None:
        """The run, if ``attempt`` is its running attempt (else the report about it is late or repeated)."""
        run = self._store.get_run(run_id)
        if run is None or run.status != "running":
            return None
        return run if self._store.last_attempt(run_id) == (attempt, "running") else None

    def _announce(self, announcements: Sequence[Announcement]) -> None:
        for announcement in announcements:
            if isinstance(announcement, RunEnded):
                self.bus.publish(announcement.event_seq, announcement.run.id)
            for listener in list(self._listeners):
                listener(announcement)


def _retry_after(run: RunRecord, attempt: int, finished: datetime) -> ScheduledRetry | None:
    if attempt >= run.max_retries:
        return None
    delay = retry_delay_ms(run.wait_duration_ms, run.backoff_factor, attempt) / 1000
    return ScheduledRetry(run.id, delay, finished + timedelta(seconds=delay))
