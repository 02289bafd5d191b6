"""A full disk: the failed write is reported as itself, and runs move on by themselves once space returns.

The store is a real SQLite file; ``PRAGMA max_page_count`` on the store's own connection makes SQLite answer
SQLITE_FULL exactly as a full disk does, and raising it again is the space coming back.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from render_sdk.local.engine.store import Store

from .fakes import START, Engine, drive, settle


def limit_pages(store: Store, pages: int | None) -> None:
    db = store._db  # max_page_count is a setting of one connection: the store's own
    if pages is None:
        pages = int(db.execute("PRAGMA page_count").fetchone()[0])
    db.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_disk_is_reported_and_stuck_runs_move_on_when_space_returns(
    socket_dir: Path, tmp_path: Path
) -> None:
    store = Store(tmp_path / "runs.sqlite3")

    async def body(engine: Engine) -> None:
        first = engine.states.create_run(engine.task("square"), [1])
        second = engine.states.create_run(engine.task("square"), [2])
        await settle()
        limit_pages(store, None)
        with pytest.raises(sqlite3.OperationalError, match="full"):  # use up the last free space
            for _ in range(10_000):
                store.add_log(first.id, 0, "stdout", START, "x" * 4000)
        process = engine.process_of(first.id)
        process.stderr_tail.append("y" * 200_000)
        process.exit(1)  # its failure cannot be written: the run would be "running" with no process
        await settle()
        assert engine.run(first.id).status == "running"
        assert engine.run(second.id).status == "pending"
        failures = [line for line in engine.echoed if line.startswith("could not write to the database")]
        assert failures == [
            "could not write to the database: OperationalError: database or disk is full; "
            "trying again every 1 s"
        ]
        await engine.clock.advance(3)  # still full: tried again, said once
        assert engine.run(first.id).status == "running"
        assert [line for line in engine.echoed if "database" in line] == failures

        limit_pages(store, 1_000_000)
        await engine.clock.advance(1)
        failed = engine.run(first.id)
        assert failed.status == "failed"
        assert failed.error is not None and failed.error.startswith("the worker process exited with status 1")
        assert engine.run(second.id).status == "running"  # the queue moved on by itself
        assert "the database takes writes again" in engine.echoed

    drive(socket_dir, body, store=store, max_concurrency=1)
    store.close()


def test_a_failed_commit_leaves_no_transaction_open_and_raises_the_real_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "runs.sqlite3")
    limit_pages(store, None)
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"), store.transaction():
        for _ in range(10_000):
            store.add_log("trn-x", 0, "stdout", START, "x" * 4000)
    limit_pages(store, 1_000_000)
    with store.transaction():  # the store is usable again
        store.add_log("trn-x", 0, "stdout", START, "after")
    assert [record.message for record in store.logs(["trn-x"])] == ["after"]
    store.close()
