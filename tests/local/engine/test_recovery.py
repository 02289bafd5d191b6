"""A restart: attempts in flight are failed (and retried if allowed); pending runs and retry waits resume."""

from __future__ import annotations

from pathlib import Path

from render_sdk.local.attempts.orchestrator import RESTART_REASON
from render_sdk.local.engine.states import RunStates
from render_sdk.local.engine.store import Store

from .fakes import DEFAULT_TASKS, Engine, FakeClock, drive, register


def test_restart_fails_interrupted_attempts_and_resumes_the_rest(socket_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite3"
    # What a server that was killed leaves in its store: two attempts running, a retry wait, a queued run.
    store = Store(db)
    register(store, *DEFAULT_TASKS)
    old = RunStates(store, clock=FakeClock())
    square, flaky = store.get_task_by_name("square"), store.get_task_by_name("flaky")
    assert square is not None and flaky is not None
    interrupted_square = old.create_run(square, [1]).id
    interrupted_flaky = old.create_run(flaky, []).id
    waiting = old.create_run(flaky, []).id
    queued = old.create_run(square, [2]).id
    for run_id in (interrupted_square, interrupted_flaky, waiting):
        assert old.start_attempt(run_id) is not None
    assert old.fail_attempt(waiting, 0, "ValueError: first try") is not None  # due 1 s after START
    store.close()

    async def after(engine: Engine) -> None:
        engine.clock.elapsed = 0.25  # the new server starts 0.25 s after the retry was scheduled
        engine.orchestrator.resume()
        failed = engine.run(interrupted_square)
        assert failed.status == "failed" and failed.error == RESTART_REASON
        attempts = engine.store.attempts(interrupted_flaky)
        assert [(a.status, a.error) for a in attempts] == [("failed", RESTART_REASON)]
        assert engine.run(interrupted_flaky).status == "pending"
        # The old wait's remainder, and the interrupted flaky run's first retry wait.
        assert engine.clock.pending() == [0.75, 1.0]
        await engine.clock.advance(0)
        assert engine.launcher.names() == ["square[2]"]
        assert engine.launcher.launched[0].run.id == queued
        await engine.clock.advance(0.75)
        assert [p.run.id for p in engine.launcher.launched] == [queued, waiting]
        assert engine.launcher.launched[-1].attempt == 1
        await engine.clock.advance(0.25)
        assert [p.run.id for p in engine.launcher.launched] == [queued, waiting, interrupted_flaky]

    store = Store(db)
    drive(socket_dir, after, store=store)
    store.close()
