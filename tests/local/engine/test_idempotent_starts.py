"""``idempotencyKey`` on a start: a repeat within 24 hours, in the same workflow, gets the first run."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from render_sdk.local.engine.states import RunQueued, RunStates
from render_sdk.local.engine.store import Store

from .fakes import Engine, drive, settle


def test_a_repeated_start_returns_the_first_run_and_ignores_its_input(socket_dir: Path) -> None:
    async def body(engine: Engine) -> None:
        square = engine.task("square")
        first = engine.states.create_run(square, [3], "key-1")
        again = engine.states.create_run(square, [999], "key-1")
        other = engine.states.create_run(square, [3], "key-2")
        unkeyed = [engine.states.create_run(square, [3]) for _ in range(2)]
        assert again.id == first.id and engine.run(first.id).input == [3]
        assert len({first.id, other.id, *(run.id for run in unkeyed)}) == 4
        await settle()
        assert len([a for a in engine.announcements if isinstance(a, RunQueued)]) == 4
        assert len(engine.launcher.launched) == 4  # the repeat started nothing

    drive(socket_dir, body)


def test_keys_are_scoped_to_a_workflow(socket_dir: Path) -> None:
    async def body(engine: Engine) -> None:
        square = engine.task("square")
        elsewhere = replace(square, id="tsk-elsewhere", name="square_elsewhere", workflow_id="wfl-other")
        engine.store.upsert_task(elsewhere)
        here = engine.states.create_run(square, [1], "shared")
        there = engine.states.create_run(engine.task("square_elsewhere"), [1], "shared")
        assert here.id != there.id
        assert engine.states.create_run(engine.task("square_elsewhere"), [2], "shared").id == there.id

    drive(socket_dir, body)


def test_a_key_is_kept_for_24_hours_and_across_restarts(socket_dir: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "runs.sqlite3")

    async def body(engine: Engine) -> None:
        first = engine.states.create_run(engine.task("square"), [1], "daily")
        await engine.clock.advance(timedelta(hours=24).total_seconds() - 1)
        restarted = RunStates(engine.store, clock=engine.clock)  # another server on the same file
        assert restarted.create_run(engine.task("square"), [2], "daily").id == first.id
        await engine.clock.advance(2)
        assert restarted.create_run(engine.task("square"), [3], "daily").id != first.id

    drive(socket_dir, body, store=store)
    store.close()
