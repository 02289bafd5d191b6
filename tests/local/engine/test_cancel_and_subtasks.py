"""Subtasks (idempotent submission, guards), the queue's order, and canceling whole trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from render_sdk.local.engine.errors import Conflict, NotFound
from render_sdk.local.engine.states import RunEnded, RunQueued

from .fakes import Engine, drive, settle


def test_a_repeated_subtask_request_returns_the_first_run(socket_dir: Path) -> None:
    async def body(engine: Engine) -> None:
        parent = engine.states.create_run(engine.task("parent"), [])
        await settle()
        key = ("k1", "2026-01-01T00:00:00Z")
        first, created = engine.states.create_subtask(parent.id, 0, "square", [2], key)
        again, created_again = engine.states.create_subtask(parent.id, 0, "square", [999], key)
        other, _ = engine.states.create_subtask(parent.id, 0, "square", [2], ("k2", key[1]))
        assert created and not created_again
        assert again.id == first.id and other.id != first.id
        assert engine.run(first.id).input == [2]  # the repeated request's input is ignored
        await settle()
        assert engine.launcher.names() == ["parent[]", "square[2]", "square[2]"]
        queued = [a.run.id for a in engine.announcements if isinstance(a, RunQueued)]
        assert queued == [parent.id, first.id, other.id]
        child = engine.run(first.id)
        assert (child.parent_id, child.root_id, child.parent_attempt) == (parent.id, parent.id, 0)

    drive(socket_dir, body)


def test_subtask_guards_name_what_is_wrong(socket_dir: Path) -> None:
    async def body(engine: Engine) -> None:
        with pytest.raises(NotFound, match="parent task run trn-nope not found"):
            engine.states.create_subtask("trn-nope", 0, "square", [])
        parent = engine.states.create_run(engine.task("parent"), [])
        with pytest.raises(Conflict, match=f"parent task run {parent.id} is pending, not running"):
            engine.states.create_subtask(parent.id, 0, "square", [])
        await settle()
        with pytest.raises(NotFound, match=r"task 'cube' not found \(registered tasks: square, parent, "):
            engine.states.create_subtask(parent.id, 0, "cube", [])
        engine.states.cancel_tree(parent.id)
        with pytest.raises(Conflict, match="was canceled"):
            engine.states.create_subtask(parent.id, 0, "square", [])

    drive(socket_dir, body)


def test_subtasks_start_before_queued_roots_and_roots_in_order(socket_dir: Path) -> None:
    async def body(engine: Engine) -> None:
        roots = [engine.states.create_run(engine.task("square"), [n]) for n in range(3)]
        parent = engine.states.create_run(engine.task("parent"), [])
        await settle()
        assert engine.launcher.names() == ["square[0]", "square[1]"]
        await engine.complete(roots[0].id, [0])
        assert engine.launcher.names()[-1] == "square[2]"
        await engine.complete(roots[1].id, [1])
        assert engine.launcher.names()[-1] == "parent[]"
        late_root = engine.states.create_run(engine.task("square"), [7])
        engine.states.create_subtask(parent.id, 0, "square", [100])
        await settle()
        await engine.complete(roots[2].id, [4])  # one slot: the subtask goes first, though queued later
        assert engine.launcher.names()[-1] == "square[100]"
        assert engine.run(late_root.id).status == "pending"
        assert engine.orchestrator.slots.peak == 2

    drive(socket_dir, body, max_concurrency=2)


def test_cancel_stops_the_whole_tree_and_its_pending_retries(socket_dir: Path) -> None:
    async def body(engine: Engine) -> None:
        root = engine.states.create_run(engine.task("parent"), [])
        await settle()
        running_child, _ = engine.states.create_subtask(root.id, 0, "parent", [])
        retrying_child, _ = engine.states.create_subtask(root.id, 0, "flaky", [])
        await settle()
        await engine.fail(retrying_child.id)
        assert engine.clock.pending() == [1.0, 300.0, 300.0]  # the retry's wait; the two running timeouts
        finished_child, _ = engine.states.create_subtask(root.id, 0, "square", [5])
        await settle()
        await engine.complete(finished_child.id, [25])
        busy_child, _ = engine.states.create_subtask(root.id, 0, "square", [6])
        await settle()
        grandchild, _ = engine.states.create_subtask(running_child.id, 0, "square", [1])  # queued: no slot
        await settle()
        assert engine.run(grandchild.id).status == "pending"
        processes = {p.run.id: p for p in engine.launcher.running()}
        assert set(processes) == {root.id, running_child.id, busy_child.id}

        canceled = engine.states.cancel_tree(root.id)
        await settle()
        assert canceled[0] == root.id
        assert set(canceled) == {root.id, running_child.id, retrying_child.id, busy_child.id, grandchild.id}
        for run_id in canceled:
            assert engine.run(run_id).status == "canceled"
        assert engine.run(finished_child.id).status == "completed"
        assert {p.how_stopped for p in processes.values()} == {"killed"}
        assert engine.launcher.running() == []
        assert engine.clock.pending() == []  # the retry timer is gone, and so are the timeouts
        await engine.clock.advance(10)
        assert engine.run(retrying_child.id).status == "canceled"
        assert len(engine.launcher.launched) == 5  # neither the retry nor the grandchild started
        ended = [a.run.id for a in engine.announcements if isinstance(a, RunEnded)]
        assert ended[-5:] == canceled
        assert engine.echoed[-5:] == [f"canceled {run_id}" for run_id in canceled]
        statuses = {a.attempt: a.status for a in engine.store.attempts(root.id)}
        assert statuses == {0: "canceled"}

    drive(socket_dir, body, max_concurrency=3)


def test_cancel_guards(socket_dir: Path) -> None:
    async def body(engine: Engine) -> None:
        with pytest.raises(NotFound, match="task run trn-nope not found"):
            engine.states.cancel_tree("trn-nope")
        run = engine.states.create_run(engine.task("square"), [1])
        await settle()
        await engine.complete(run.id, [1])
        with pytest.raises(
            Conflict, match="is already completed; only pending or running runs can be canceled"
        ):
            engine.states.cancel_tree(run.id)

    drive(socket_dir, body)


def test_a_run_canceled_while_queued_never_starts(socket_dir: Path) -> None:
    async def body(engine: Engine) -> None:
        first = engine.states.create_run(engine.task("square"), [1])
        second = engine.states.create_run(engine.task("square"), [2])
        await settle()
        engine.states.cancel_tree(second.id)
        await engine.complete(first.id, [1])
        assert engine.launcher.names() == ["square[1]"]
        assert engine.store.attempts(second.id) == []

    drive(socket_dir, body, max_concurrency=1)
