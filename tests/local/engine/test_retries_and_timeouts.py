"""Retries wait ``wait_duration_ms * factor ** n``; timeouts stop the attempt; both on the engine's clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from render_sdk.local.engine.records import RetryPolicy, TaskSpec
from render_sdk.local.engine.states import RetryScheduled, RunEnded

from .fakes import Engine, drive, register, settle


def test_a_failed_attempt_is_retried_after_each_growing_delay(socket_dir: Path) -> None:
    async def body(engine: Engine) -> None:
        run = engine.states.create_run(engine.task("flaky"), [1])
        await settle()
        for attempt, delay in enumerate([1.0, 2.0, 4.0]):
            await engine.fail(run.id, f"ValueError: attempt {attempt + 1}")
            assert engine.run(run.id).status == "pending"
            assert engine.clock.pending() == [delay]
            await engine.clock.advance(delay - 0.01)
            assert len(engine.launcher.launched) == attempt + 1  # not yet
            await engine.clock.advance(0.01)
            assert len(engine.launcher.launched) == attempt + 2
            assert engine.launcher.launched[-1].attempt == attempt + 1
        await engine.fail(run.id, "ValueError: attempt 4")
        final = engine.run(run.id)
        assert final.status == "failed" and final.error == "ValueError: attempt 4"
        attempts = engine.store.attempts(run.id)
        assert [a.status for a in attempts] == ["failed"] * 4
        assert [a.error for a in attempts] == [f"ValueError: attempt {n}" for n in range(1, 5)]
        retries = [a.retry.delay for a in engine.announcements if isinstance(a, RetryScheduled)]
        assert retries == [1.0, 2.0, 4.0]
        assert [a.run.status for a in engine.announcements if isinstance(a, RunEnded)] == ["failed"]
        # Each failed attempt's process was stopped gracefully: the worker had reported.
        assert {p.how_stopped for p in engine.launcher.launched} == {"stopped"}

    drive(socket_dir, body)


def test_a_retry_that_succeeds_completes_the_run(socket_dir: Path) -> None:
    async def body(engine: Engine) -> None:
        run = engine.states.create_run(engine.task("flaky"), [1])
        await settle()
        await engine.fail(run.id)
        await engine.clock.advance(1.0)
        await engine.complete(run.id, ["ok"])
        done = engine.run(run.id)
        assert done.status == "completed" and done.results == ["ok"]
        assert [a.status for a in engine.store.attempts(run.id)] == ["failed", "completed"]

    drive(socket_dir, body)


@pytest.mark.parametrize(
    ("policy", "delays"),
    [
        (RetryPolicy(), []),  # registered without a retry policy: no retries
        (RetryPolicy(max_retries=2), [0.0, 0.0]),  # first wait 0 ms
        (RetryPolicy(max_retries=3, wait_duration_ms=500, factor=1.5), [0.5, 0.75, 1.125]),
    ],
)
def test_retry_policy_defaults_and_factor(socket_dir: Path, policy: RetryPolicy, delays: list[float]) -> None:
    async def body(engine: Engine) -> None:
        register(engine.store, TaskSpec("policy", retry=policy))
        run = engine.states.create_run(engine.task("policy"), [])
        await settle()
        for delay in delays:
            await engine.fail(run.id)
            assert engine.clock.pending() == [pytest.approx(delay)]
            await engine.clock.advance(delay)
        await engine.fail(run.id)
        assert engine.run(run.id).status == "failed"
        assert len(engine.store.attempts(run.id)) == len(delays) + 1

    drive(socket_dir, body)


def test_an_attempt_past_its_timeout_is_killed_and_failed(socket_dir: Path) -> None:
    async def body(engine: Engine) -> None:
        run = engine.states.create_run(engine.task("slow"), [])
        await settle()
        (process,) = engine.launcher.launched
        await engine.clock.advance(29.9)
        assert engine.run(run.id).status == "running" and process.how_stopped is None
        await engine.clock.advance(0.1)
        assert process.how_stopped == "killed"
        failed = engine.run(run.id)
        assert failed.status == "failed"
        assert failed.error == "timed out after 30 s (the task's timeout_seconds)"
        assert engine.orchestrator.slots.in_use == 0

    drive(socket_dir, body)


def test_a_task_registered_without_a_timeout_gets_the_default(socket_dir: Path) -> None:
    async def body(engine: Engine) -> None:
        run = engine.states.create_run(engine.task("square"), [2])
        await settle()
        assert engine.clock.pending() == [300.0]  # the SDK's documented default_timeout
        await engine.clock.advance(299)
        await engine.complete(run.id, [4])
        assert engine.run(run.id).status == "completed"
        assert engine.clock.pending() == []

    drive(socket_dir, body)


def test_the_callers_timeout_limit_replaces_the_tasks(socket_dir: Path) -> None:
    async def body(engine: Engine) -> None:
        run = engine.states.create_run(engine.task("slow"), [])
        await settle()
        await engine.clock.advance(2)
        failed = engine.run(run.id)
        assert failed.status == "failed"
        assert failed.error == "timed out after 2 s (the runtime's test timeout; the task's is 30 s)"

    drive(socket_dir, body, timeout_seconds=2)


def test_a_process_that_exits_without_reporting_fails_its_attempt(socket_dir: Path) -> None:
    async def body(engine: Engine) -> None:
        run = engine.states.create_run(engine.task("flaky"), [])
        await settle()
        process = engine.process_of(run.id)
        process.stderr_tail.append("Segmentation fault")
        process.exit(3)
        await settle()
        attempt = engine.store.attempts(run.id)[0]
        assert attempt.status == "failed"
        assert attempt.error == (
            "the worker process exited with status 3 before reporting a result; its stderr ends with:\n"
            "Segmentation fault"
        )
        assert engine.run(run.id).status == "pending"  # flaky retries
        assert engine.clock.pending() == [1.0]

    drive(socket_dir, body)


def test_a_late_or_repeated_report_is_ignored(socket_dir: Path) -> None:
    async def body(engine: Engine) -> None:
        run = engine.states.create_run(engine.task("square"), [3])
        await settle()
        await engine.complete(run.id, [9])
        assert not engine.states.complete_attempt(run.id, 0, [10])
        assert engine.states.fail_attempt(run.id, 0, "late") is None
        done = engine.run(run.id)
        assert done.status == "completed" and done.results == [9]
        assert len([a for a in engine.announcements if isinstance(a, RunEnded)]) == 1

    drive(socket_dir, body)
