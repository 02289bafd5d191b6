"""A restart: attempts in flight are failed (and retried if allowed); pending runs and retry waits resume."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from render_sdk.local.attempts.orchestrator import RESTART_REASON
from render_sdk.local.attempts.processes import pid_running, proc_stat
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
        await engine.orchestrator.resume()
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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_restart_stops_the_process_groups_a_crashed_server_left(socket_dir: Path, tmp_path: Path) -> None:
    sleep = [
        sys.executable,
        "-c",
        "import subprocess, sys, time; subprocess.Popen(sys.argv[1:]); time.sleep(60)",
    ]
    orphan = subprocess.Popen(
        [*sleep, sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        db = tmp_path / "runs.sqlite3"
        store = Store(db)
        register(store, *DEFAULT_TASKS)
        old = RunStates(store, clock=FakeClock())
        square = store.get_task_by_name("square")
        assert square is not None
        left, reused = old.create_run(square, [1]).id, old.create_run(square, [2]).id
        for run_id, process, shift in ((left, orphan, 0), (reused, stranger, 1)):
            assert old.start_attempt(run_id) is not None
            stat = proc_stat(process.pid)
            assert stat is not None
            # The second pid is recorded with another start time: as if it had been reused since.
            store.record_attempt_process(run_id, 0, process.pid, stat.start_time + shift)
        store.close()

        async def after(engine: Engine) -> None:
            await engine.orchestrator.resume()
            assert not pid_running(orphan.pid)
            assert pid_running(stranger.pid)  # not the process that was recorded: left alone
            assert any(line.startswith(f"stopped  process group {orphan.pid}") for line in engine.echoed)
            assert engine.run(left).error == RESTART_REASON

        store = Store(db)
        drive(socket_dir, after, store=store)
        store.close()
        orphan.wait(5)
    finally:
        for process in (orphan, stranger):
            process.kill()
            process.wait()
