"""Parents waiting on subtasks give their slots up: any tree completes at any ``max_concurrency >= 1``.

The workers here are scripted fakes, but they speak the callback API on each attempt's real socket, so the
endpoint's hold, parking and resuming are the real ones.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from render_sdk.local.engine.records import TaskSpec

from .fakes import Engine, ScriptedWorker, drive, register


class Watch:
    """Counts the scripted attempts running code (not waiting on a request), and the most at once."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0

    def __enter__(self) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)

    def __exit__(self, *_: object) -> None:
        self.running -= 1


def scripts(watch: Watch) -> dict[str, object]:
    async def tree(worker: ScriptedWorker) -> None:
        depth, fanout = worker.run.input
        if depth == 0:
            with watch:
                await asyncio.sleep(0.001)
            await worker.complete(1)
            return
        children = [await worker.start_subtask("tree", [depth - 1, fanout]) for _ in range(fanout)]
        results = await asyncio.gather(*[worker.result_of(child) for child in children])
        await worker.complete(1 + sum(results))

    async def chain(worker: ScriptedWorker) -> None:
        (n,) = worker.run.input
        if n == 0:
            await worker.complete(0)
            return
        child = await worker.start_subtask("chain", [n - 1])
        await worker.complete(1 + await worker.result_of(child))

    return {"tree": tree, "chain": chain}


async def run_to_end(engine: Engine, task: str, input_value: list[int]) -> object:
    register(engine.store, TaskSpec(task))
    run = engine.states.create_run(engine.task(task), input_value)
    final = await engine.states.wait_final(run.id, 15)
    assert final is not None and final.status == "completed", final
    assert final.results is not None
    await engine.quiet()
    return final.results[0]


@pytest.mark.parametrize("max_concurrency", [1, 2, 3, 8])
def test_a_tree_deeper_than_the_slots_completes(socket_dir: Path, max_concurrency: int) -> None:
    watch = Watch()

    async def body(engine: Engine) -> None:
        assert await run_to_end(engine, "tree", [4, 2]) == 31  # 1 + 2 + 4 + 8 + 16 runs
        assert engine.orchestrator.slots.peak <= max_concurrency
        assert watch.peak <= max_concurrency
        assert engine.orchestrator.slots.in_use == 0

    drive(socket_dir, body, max_concurrency=max_concurrency, scripts=scripts(watch))  # type: ignore[arg-type]


@pytest.mark.parametrize("max_concurrency", [1, 2])
def test_a_chain_longer_than_the_slots_completes(socket_dir: Path, max_concurrency: int) -> None:
    async def body(engine: Engine) -> None:
        assert await run_to_end(engine, "chain", [3]) == 3
        assert engine.orchestrator.slots.peak <= max_concurrency

    drive(socket_dir, body, max_concurrency=max_concurrency, scripts=scripts(Watch()))  # type: ignore[arg-type]
