"""The local runtime's SQLite store: workflow, versions, tasks, runs, attempts and logs.

One connection, used from the event loop's thread; every query is small and indexed, so calling it directly
from coroutines costs well under a millisecond. WAL mode keeps readers and the writer out of each other's way,
and a committed transaction survives the server being killed, so a run is durable before its 202 goes out.

Only :mod:`render_sdk.local.engine.states` changes a run's status; this module offers the reads and raw
writes it uses.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from render_sdk._protocol.strict_json import dumps
from render_sdk.local.engine.records import (
    AttemptRecord,
    LogRecord,
    RunRecord,
    TaskRecord,
    TaskSpec,
    VersionRecord,
    WorkflowRecord,
    from_timestamp,
    timestamp,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["Store"]

SCHEMA_VERSION = 2

# Each entry upgrades the schema from its index to index + 1; PRAGMA user_version records how far a file got.
_MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE workflow (
        id TEXT PRIMARY KEY,
        slug TEXT NOT NULL,
        run_command TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE workflow_versions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        workflow_id TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE tasks (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL UNIQUE,
        workflow_id TEXT NOT NULL,
        workflow_version_id TEXT NOT NULL,
        definition_json TEXT NOT NULL,
        active INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE task_runs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        task_id TEXT NOT NULL,
        task_name TEXT NOT NULL,
        workflow_id TEXT NOT NULL,
        workflow_version_id TEXT NOT NULL,
        status TEXT NOT NULL,
        input_json TEXT NOT NULL,
        results_json TEXT,
        error TEXT,
        parent_id TEXT,
        parent_attempt INTEGER,
        root_id TEXT NOT NULL,
        max_retries INTEGER NOT NULL,
        wait_duration_ms INTEGER NOT NULL,
        backoff_factor REAL NOT NULL,
        timeout_seconds INTEGER,
        created_at TEXT NOT NULL,
        queued_at TEXT NOT NULL,
        started_at TEXT,
        completed_at TEXT,
        next_attempt_at TEXT,
        terminal_seq INTEGER UNIQUE,
        idempotency_key TEXT,
        idempotency_created_at TEXT
    );
    CREATE INDEX task_runs_by_root ON task_runs (root_id, seq);
    CREATE INDEX task_runs_by_parent ON task_runs (parent_id, seq);
    CREATE INDEX task_runs_by_task ON task_runs (task_id, seq);
    CREATE INDEX task_runs_by_status ON task_runs (status);
    CREATE UNIQUE INDEX task_runs_by_idempotency
        ON task_runs (parent_id, idempotency_key, idempotency_created_at)
        WHERE idempotency_key IS NOT NULL;
    CREATE TABLE attempts (
        run_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        status TEXT NOT NULL,
        enqueued_at TEXT NOT NULL,
        started_at TEXT NOT NULL,
        completed_at TEXT,
        error TEXT,
        results_json TEXT,
        PRIMARY KEY (run_id, attempt)
    );
    CREATE TABLE logs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        stream TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX logs_by_run ON logs (run_id, seq);
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO counters (name, value) VALUES ('event_seq', 0);
    """,
    # 2: the process group of each attempt, so a restarted server can stop what a crashed one left running;
    # the idempotency keys of runs started through the REST API, found per workflow.
    """
    ALTER TABLE attempts ADD COLUMN pid INTEGER;
    ALTER TABLE attempts ADD COLUMN pid_start_time INTEGER;
    CREATE INDEX task_runs_by_start_key ON task_runs (workflow_id, idempotency_key, seq)
        WHERE parent_id IS NULL AND idempotency_key IS NOT NULL;
    """,
)


class Store:
    """SQLite persistence for the local runtime.

    Args:
        path: The database file, created with its parent directory if needed; None keeps everything in memory.
    """

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(
            ":memory:" if path is None else str(path), isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        # Registered tasks by ("name", name) and ("id", id): read by every start request, written only when
        # the worker registers. Forgotten on every task write and every rollback, so it never outlives a row.
        self._tasks: dict[tuple[str, str], TaskRecord] = {}
        self._db.execute("PRAGMA busy_timeout = 5000")
        if path is not None:
            self._db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL keeps each commit if this process crashes; power loss may drop the tail.
            self._db.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} was written by a newer render_sdk (schema {version}; this one knows "
                f"{SCHEMA_VERSION})"
            )
        for index in range(version, SCHEMA_VERSION):
            self._db.executescript(f"BEGIN; {_MIGRATIONS[index]}; PRAGMA user_version = {index + 1}; COMMIT;")

    def transaction(self) -> _Transaction:
        """A context manager grouping writes into one atomic commit."""
        return _Transaction(self._db, self._tasks.clear)

    # ---- workflow, versions, tasks ---------------------------------------------------------------------

    def get_workflow(self) -> WorkflowRecord | None:
        row = self._db.execute("SELECT * FROM workflow LIMIT 1").fetchone()
        if row is None:
            return None
        return _record(WorkflowRecord, row)

    def put_workflow(self, workflow: WorkflowRecord) -> None:
        self._db.execute(
            "INSERT INTO workflow (id, slug, run_command, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET slug = excluded.slug, run_command = excluded.run_command, "
            "updated_at = excluded.updated_at",
            (
                workflow.id,
                workflow.slug,
                workflow.run_command,
                timestamp(workflow.created_at),
                timestamp(workflow.updated_at),
            ),
        )

    def add_version(self, version: VersionRecord) -> None:
        self._db.execute(
            "INSERT INTO workflow_versions (id, workflow_id, name, status, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (version.id, version.workflow_id, version.name, version.status, timestamp(version.created_at)),
        )

    def list_versions(self, after_id: str | None, limit: int) -> list[VersionRecord]:
        rows = self._db.execute(
            "SELECT * FROM workflow_versions WHERE seq > ? ORDER BY seq LIMIT ?",
            (self._seq_of("workflow_versions", after_id), limit),
        ).fetchall()
        return [_version(row) for row in rows]

    def get_version(self, version_id: str) -> VersionRecord | None:
        row = self._db.execute("SELECT * FROM workflow_versions WHERE id = ?", (version_id,)).fetchone()
        return None if row is None else _version(row)

    def count_versions(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM workflow_versions").fetchone()[0])

    def upsert_task(self, task: TaskRecord) -> None:
        self._tasks.clear()
        self._db.execute(
            "INSERT INTO tasks "
            "(id, name, workflow_id, workflow_version_id, definition_json, active, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "workflow_version_id = excluded.workflow_version_id, definition_json = excluded.definition_json, "
            "active = excluded.active",
            (
                task.id,
                task.name,
                task.workflow_id,
                task.workflow_version_id,
                dumps(task.spec.to_json()),
                int(task.active),
                timestamp(task.created_at),
            ),
        )

    def deactivate_tasks_except(self, names: Iterable[str]) -> None:
        keep = list(names)
        self._tasks.clear()
        marks = ",".join("?" * len(keep))
        self._db.execute(f"UPDATE tasks SET active = 0 WHERE name NOT IN ({marks})", keep)

    def get_task_by_name(self, name: str) -> TaskRecord | None:
        return self._task_where("name", name)

    def get_task(self, task_id: str) -> TaskRecord | None:
        return self._task_where("id", task_id)

    def _task_where(self, column: str, value: str) -> TaskRecord | None:
        task = self._tasks.get((column, value))
        if task is None:
            row = self._db.execute(f"SELECT * FROM tasks WHERE {column} = ?", (value,)).fetchone()
            if row is None:
                return None
            task = self._tasks[(column, value)] = _task(row)
        return task

    def list_tasks(self, active_only: bool, after_id: str | None = None, limit: int = -1) -> list[TaskRecord]:
        rows = self._db.execute(
            "SELECT * FROM tasks WHERE seq > ? AND (active = 1 OR ? = 0) ORDER BY seq LIMIT ?",
            (self._seq_of("tasks", after_id), int(active_only), limit),
        ).fetchall()
        return [_task(row) for row in rows]

    # ---- runs ------------------------------------------------------------------------------------------

    def insert_run(self, run: RunRecord, idempotency: tuple[str, str] | None) -> RunRecord:
        cursor = self._db.execute(
            "INSERT INTO task_runs (id, task_id, task_name, workflow_id, workflow_version_id, status, "
            "input_json, parent_id, parent_attempt, root_id, max_retries, wait_duration_ms, backoff_factor, "
            "timeout_seconds, "
            "created_at, queued_at, idempotency_key, idempotency_created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run.id,
                run.task_id,
                run.task_name,
                run.workflow_id,
                run.workflow_version_id,
                run.status,
                run.input_json,
                run.parent_id,
                run.parent_attempt,
                run.root_id,
                run.max_retries,
                run.wait_duration_ms,
                run.backoff_factor,
                run.timeout_seconds,
                timestamp(run.created_at),
                timestamp(run.queued_at),
                *(idempotency or (None, None)),
            ),
        )
        return replace(run, seq=int(cursor.lastrowid or 0))

    def find_idempotent_run(self, parent_id: str, key: str, created_at: str) -> RunRecord | None:
        row = self._db.execute(
            "SELECT * FROM task_runs "
            "WHERE parent_id = ? AND idempotency_key = ? AND idempotency_created_at = ?",
            (parent_id, key, created_at),
        ).fetchone()
        return None if row is None else _run(row)

    def find_started_run(self, workflow_id: str, key: str, since: datetime) -> RunRecord | None:
        """The root run a start request with idempotency ``key`` created at or after ``since``, if any."""
        row = self._db.execute(
            "SELECT * FROM task_runs WHERE workflow_id = ? AND idempotency_key = ? AND parent_id IS NULL "
            "AND created_at >= ? ORDER BY seq DESC LIMIT 1",
            (workflow_id, key, timestamp(since)),
        ).fetchone()
        return None if row is None else _run(row)

    def get_run(self, run_id: str) -> RunRecord | None:
        row = self._db.execute("SELECT * FROM task_runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else _run(row)

    def update_run(self, run: RunRecord, **fields: Any) -> RunRecord:
        """Write the given columns of ``run`` and return it as it now reads (without reading it again).

        Fields are named as the record's; datetimes are encoded here, JSON columns are given as text.
        """
        columns = []
        values: list[Any] = []
        for name, value in fields.items():
            columns.append(f"{name} = ?")
            if isinstance(value, datetime):
                value = timestamp(value)
                fields[name] = _dt(value)  # exactly what reading the row back would give
            values.append(value)
        self._db.execute(f"UPDATE task_runs SET {', '.join(columns)} WHERE id = ?", (*values, run.id))
        return replace(run, **fields)

    def next_event_seq(self) -> int:
        row = self._db.execute(
            "UPDATE counters SET value = value + 1 WHERE name = 'event_seq' RETURNING value"
        ).fetchone()
        return int(row[0])

    def list_runs(
        self,
        after_id: str | None,
        limit: int,
        task_ids: Sequence[str] = (),
        root_ids: Sequence[str] = (),
        workflow_ids: Sequence[str] = (),
        version_ids: Sequence[str] = (),
        statuses: Sequence[str] = (),
        top_level_only: bool = False,
    ) -> list[RunRecord]:
        """Runs newest first, continuing after ``after_id`` (the cursor of the previous page)."""
        where = ["seq < ?", "parent_id IS NULL"] if top_level_only else ["seq < ?"]
        after_seq = self._seq_of("task_runs", after_id) if after_id else None
        params: list[Any] = [after_seq if after_seq is not None else 2**62]
        for column, values in (
            ("task_id", task_ids),
            ("root_id", root_ids),
            ("workflow_id", workflow_ids),
            ("workflow_version_id", version_ids),
            ("status", statuses),
        ):
            if values:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        rows = self._db.execute(
            f"SELECT * FROM task_runs WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?", (*params, limit)
        ).fetchall()
        return [_run(row) for row in rows]

    def children(self, parent_id: str) -> list[RunRecord]:
        rows = self._db.execute(
            "SELECT * FROM task_runs WHERE parent_id = ? ORDER BY seq", (parent_id,)
        ).fetchall()
        return [_run(row) for row in rows]

    def runs_with_status(self, statuses: Sequence[str]) -> list[RunRecord]:
        rows = self._db.execute(
            f"SELECT * FROM task_runs WHERE status IN ({','.join('?' * len(statuses))}) ORDER BY seq",
            tuple(statuses),
        ).fetchall()
        return [_run(row) for row in rows]

    # ---- attempts --------------------------------------------------------------------------------------

    def insert_attempt(self, attempt: AttemptRecord) -> None:
        self._db.execute(
            "INSERT INTO attempts (run_id, attempt, status, enqueued_at, started_at) VALUES (?, ?, ?, ?, ?)",
            (
                attempt.run_id,
                attempt.attempt,
                attempt.status,
                timestamp(attempt.enqueued_at),
                timestamp(attempt.started_at),
            ),
        )

    def finish_attempt(
        self, run_id: str, attempt: int, status: str, completed_at: datetime, error: str | None, results: Any
    ) -> None:
        self._db.execute(
            "UPDATE attempts SET status = ?, completed_at = ?, error = ?, results_json = ? "
            "WHERE run_id = ? AND attempt = ?",
            (
                status,
                timestamp(completed_at),
                error,
                None if results is None else dumps(results),
                run_id,
                attempt,
            ),
        )

    def record_attempt_process(self, run_id: str, attempt: int, pid: int, start_time: int | None) -> None:
        """Remember the process group an attempt runs in (its leader's pid and start time)."""
        self._db.execute(
            "UPDATE attempts SET pid = ?, pid_start_time = ? WHERE run_id = ? AND attempt = ?",
            (pid, start_time, run_id, attempt),
        )

    def running_attempts(self) -> list[AttemptRecord]:
        """Attempts recorded as running: after a crash, those whose processes may still be alive."""
        rows = self._db.execute(
            "SELECT * FROM attempts WHERE status = 'running' ORDER BY started_at"
        ).fetchall()
        return [_attempt(row) for row in rows]

    def count_attempts(self, run_id: str) -> int:
        return int(
            self._db.execute("SELECT count(*) FROM attempts WHERE run_id = ?", (run_id,)).fetchone()[0]
        )

    def last_attempt(self, run_id: str) -> tuple[int, str] | None:
        """The number and status of the run's latest attempt, if it has one."""
        row = self._db.execute(
            "SELECT attempt, status FROM attempts WHERE run_id = ? ORDER BY attempt DESC LIMIT 1", (run_id,)
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def attempts(self, run_id: str) -> list[AttemptRecord]:
        rows = self._db.execute(
            "SELECT * FROM attempts WHERE run_id = ? ORDER BY attempt", (run_id,)
        ).fetchall()
        return [_attempt(row) for row in rows]

    def attempts_of_runs(self, run_ids: Sequence[str]) -> dict[str, list[AttemptRecord]]:
        """The attempts of each run in one query (for a page of runs); runs without attempts are absent."""
        if not run_ids:
            return {}
        rows = self._db.execute(
            f"SELECT * FROM attempts WHERE run_id IN ({','.join('?' * len(run_ids))}) "
            "ORDER BY run_id, attempt",
            tuple(run_ids),
        ).fetchall()
        attempts: dict[str, list[AttemptRecord]] = {}
        for row in rows:
            attempts.setdefault(row["run_id"], []).append(_attempt(row))
        return attempts

    # ---- logs ------------------------------------------------------------------------------------------

    def add_log(self, run_id: str, attempt: int, stream: str, moment: datetime, message: str) -> None:
        self._db.execute(
            "INSERT INTO logs (run_id, attempt, stream, timestamp, message) VALUES (?, ?, ?, ?, ?)",
            (run_id, attempt, stream, timestamp(moment), message),
        )

    def logs(
        self,
        run_ids: Sequence[str],
        start: datetime | None = None,
        end: datetime | None = None,
        after_seq: int = 0,
        limit: int = -1,
    ) -> list[LogRecord]:
        where = ["seq > ?"]
        params: list[Any] = [after_seq]
        if run_ids:
            where.append(f"run_id IN ({','.join('?' * len(run_ids))})")
            params.extend(run_ids)
        if start is not None:
            where.append("timestamp >= ?")
            params.append(timestamp(start))
        if end is not None:
            where.append("timestamp <= ?")
            params.append(timestamp(end))
        rows = self._db.execute(
            f"SELECT * FROM logs WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?", (*params, limit)
        ).fetchall()
        return [_record(LogRecord, row, timestamp=_dt(row["timestamp"])) for row in rows]

    def _seq_of(self, table: str, resource_id: str | None) -> int:
        """The position of a resource, for cursors; an unknown or absent ID starts from the beginning."""
        if not resource_id:
            return 0
        row = self._db.execute(f"SELECT seq FROM {table} WHERE id = ?", (resource_id,)).fetchone()
        return 0 if row is None else int(row[0])


class _Transaction:
    def __init__(self, db: sqlite3.Connection, on_rollback: Callable[[], None]) -> None:
        self._db = db
        self._on_rollback = on_rollback

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            try:
                self._db.execute("COMMIT")
                return
            except sqlite3.Error:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        self._on_rollback()
        # After some errors (SQLITE_FULL, SQLITE_IOERR) SQLite has rolled back already, and a ROLLBACK then
        # fails with "no transaction is active": the error that matters is the one being raised.
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _version(row: sqlite3.Row) -> VersionRecord:
    return _record(VersionRecord, row)


def _task(row: sqlite3.Row) -> TaskRecord:
    spec = TaskSpec.from_json(json.loads(row["definition_json"]))
    return _record(TaskRecord, row, spec=spec, active=bool(row["active"]))


def _attempt(row: sqlite3.Row) -> AttemptRecord:
    return _record(AttemptRecord, row)


def _run(row: sqlite3.Row) -> RunRecord:
    return _record(RunRecord, row)


Record = TypeVar("Record", bound="DataclassInstance")


def _record(kind: type[Record], row: sqlite3.Row, **converted: Any) -> Record:
    """A ``kind`` from ``row``: each field is the column of its name, unless ``converted`` gives its value; a
    field named ``*_at`` is a timestamp column (:func:`~render_sdk.local.engine.records.timestamp` text, or
    NULL for a moment that has not come)."""
    names = _COLUMNS.get(kind)
    if names is None:
        names = _COLUMNS[kind] = _columns(kind)
    plain, moments = names
    return kind(
        **{name: row[name] for name in plain if name not in converted},
        **{name: from_timestamp(row[name]) for name in moments if name not in converted},
        **converted,
    )


def _columns(kind: type[DataclassInstance]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``kind``'s field names: those read as they are, and the timestamps."""
    names = [field.name for field in fields(kind)]
    return tuple(n for n in names if not n.endswith("_at")), tuple(n for n in names if n.endswith("_at"))


_COLUMNS: dict[type[DataclassInstance], tuple[tuple[str, ...], tuple[str, ...]]] = {}
