"""The run state machine: the only code that changes a run's status.

::

    pending --start_attempt--> running --complete_attempt--> completed
       ^                          |
       +----- retry scheduled ----+--fail_attempt (no retries left)--> failed
    pending / running --cancel_tree--> canceled

Retries, timeouts, process exits, cancellation and restarts all end up here, so they cannot disagree about
what happened. Every transition is one SQLite transaction; a transition into a terminal state takes the next
event sequence number (the SSE event id) and is published to the event bus after it commits. A late or
duplicate report about an attempt that is no longer running is ignored, which makes ``/callback`` idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from render_sdk._protocol.strict_json import dumps
from render_sdk.local._events import EventBus
from render_sdk.local._ids import new_id
from render_sdk.local._store import AttemptRecord, RunRecord, Store, TaskRecord, now

__all__ = ["TERMINAL_STATUSES", "Retry", "RunStates"]

TERMINAL_STATUSES = frozenset({"completed", "failed", "canceled"})

# Render's defaults when a task registers no retry policy: no retries; the factor defaults to 2.0 when unset.
_DEFAULT_FACTOR = 2.0


@dataclass(frozen=True)
class Retry:
    """A retry that was scheduled: run it ``delay`` seconds from now (``due`` in wall-clock time)."""

    run_id: str
    delay: float
    due: datetime


class RunStates:
    """Status transitions of task runs, persisted in ``store`` and announced on ``bus``."""

    def __init__(self, store: Store, bus: EventBus) -> None:
        self._store = store
        self._bus = bus

    def create_run(
        self,
        task: TaskRecord,
        input_value: Any,
        parent: RunRecord | None = None,
        parent_attempt: int | None = None,
        idempotency: tuple[str, str] | None = None,
    ) -> tuple[RunRecord, bool]:
        """Create a pending run, or return the one an identical earlier subtask request created.

        Returns:
            The run, and whether it was created by this call.
        """
        if parent is not None and idempotency is not None:
            existing = self._store.find_idempotent_run(parent.id, *idempotency)
            if existing is not None:
                return existing, False
        options = task.definition.get("options") or {}
        retry = options.get("retry") or {}
        run_id = new_id("trn")
        created = now()
        record = RunRecord(
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
            max_retries=int(retry.get("max_retries", 0)),
            wait_duration_ms=int(retry.get("wait_duration_ms", 0)),
            backoff_factor=float(retry.get("factor") or _DEFAULT_FACTOR),
            timeout_seconds=options.get("timeout_seconds"),
            created_at=created,
            queued_at=created,
            started_at=None,
            completed_at=None,
            next_attempt_at=None,
            terminal_seq=None,
        )
        with self._store.transaction():
            record = self._store.insert_run(record, idempotency if parent is not None else None)
        return record, True

    def start_attempt(self, run_id: str) -> tuple[RunRecord, int] | None:
        """Move a pending run to running with a new attempt; None if the run is no longer pending."""
        started = now()
        with self._store.transaction():
            run = self._store.get_run(run_id)
            if run is None or run.status != "pending":
                return None
            attempt = len(self._store.attempts(run_id))
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
            self._store.update_run(
                run_id,
                status="running",
                started_at=run.started_at or started,
                next_attempt_at=None,
                error=None,
            )
            updated = self._store.get_run(run_id)
        assert updated is not None
        return updated, attempt

    def complete_attempt(self, run_id: str, attempt: int, results: list[Any]) -> bool:
        """Record a successful attempt; False if it is no longer running (a late or repeated report)."""
        finished = now()
        with self._store.transaction():
            if not self._is_running(run_id, attempt):
                return False
            self._store.finish_attempt(run_id, attempt, "completed", finished, None, results)
            event_seq = self._store.next_event_seq()
            self._store.update_run(
                run_id,
                status="completed",
                results_json=results,
                completed_at=finished,
                terminal_seq=event_seq,
            )
        self._bus.publish(event_seq, run_id)
        return True

    def fail_attempt(self, run_id: str, attempt: int, error: str) -> Retry | None:
        """Record a failed attempt and schedule a retry if the run's policy allows one.

        Returns:
            The scheduled retry, or None when the run failed for good or the attempt was no longer running.
        """
        finished = now()
        with self._store.transaction():
            run = self._store.get_run(run_id)
            if run is None or not self._is_running(run_id, attempt):
                return None
            self._store.finish_attempt(run_id, attempt, "failed", finished, error, None)
            retry = self._retry_after(run, attempt, finished)
            if retry is not None:
                self._store.update_run(
                    run_id, status="pending", queued_at=retry.due, next_attempt_at=retry.due
                )
                return retry
            event_seq = self._store.next_event_seq()
            self._store.update_run(
                run_id, status="failed", error=error, completed_at=finished, terminal_seq=event_seq
            )
        self._bus.publish(event_seq, run_id)
        return None

    def cancel_tree(self, run_id: str) -> list[str]:
        """Cancel a run and every unfinished descendant, including those waiting for a retry.

        Returns:
            The IDs of the runs this call canceled, the given run first.
        """
        finished = now()
        canceled: list[tuple[int, str]] = []
        with self._store.transaction():
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
                    self._store.finish_attempt(
                        current.id, attempts[-1].attempt, "canceled", finished, "canceled", None
                    )
                event_seq = self._store.next_event_seq()
                self._store.update_run(
                    current.id,
                    status="canceled",
                    completed_at=finished,
                    next_attempt_at=None,
                    terminal_seq=event_seq,
                )
                canceled.append((event_seq, current.id))
        for event_seq, canceled_id in canceled:
            self._bus.publish(event_seq, canceled_id)
        return [canceled_id for _, canceled_id in canceled]

    async def wait_final(self, run_id: str, timeout: float) -> RunRecord | None:
        """The run as soon as it is final, or as it is after ``timeout`` seconds; None for an unknown run.

        Waits on the event bus, not by polling the store: a transition into a final state is published right
        after it commits.
        """
        subscription = self._bus.subscribe([run_id])  # before reading, so no transition can slip between
        try:
            run = self._store.get_run(run_id)
            if run is None or run.status in TERMINAL_STATUSES:
                return run
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(subscription.queue.get(), timeout)
            return self._store.get_run(run_id)
        finally:
            subscription.close()

    def recover(self, reason: str) -> tuple[list[str], list[Retry]]:
        """After a restart: fail the attempts that were in flight and find the runs still to be run.

        Args:
            reason: The error recorded on every interrupted attempt.

        Returns:
            Runs ready to start now, and retries to schedule (some possibly already due).
        """
        for run in self._store.runs_with_status(["running"]):
            attempts = self._store.attempts(run.id)
            # start_attempt writes the run and its attempt in one transaction, so a running run has one.
            self.fail_attempt(run.id, attempts[-1].attempt, reason)
        ready: list[str] = []
        retries: list[Retry] = []
        current = now()
        for run in self._store.runs_with_status(["pending"]):
            if run.next_attempt_at is None:
                ready.append(run.id)
            else:
                delay = max(0.0, (run.next_attempt_at - current).total_seconds())
                retries.append(Retry(run.id, delay, run.next_attempt_at))
        return ready, retries

    def _is_running(self, run_id: str, attempt: int) -> bool:
        run = self._store.get_run(run_id)
        if run is None or run.status != "running":
            return False
        attempts = self._store.attempts(run_id)
        return bool(attempts) and attempts[-1].attempt == attempt and attempts[-1].status == "running"

    @staticmethod
    def _retry_after(run: RunRecord, attempt: int, finished: datetime) -> Retry | None:
        if attempt >= run.max_retries:
            return None
        delay = run.wait_duration_ms * run.backoff_factor**attempt / 1000
        return Retry(run.id, delay, finished + timedelta(seconds=delay))
