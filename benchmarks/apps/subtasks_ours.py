"""Subtask round-trip app for this SDK: a trivial task, a chain of sequential subtasks, and a fan-out."""

import asyncio

from render_sdk import Workflows

app = Workflows(auto_start=True)


@app.task
def trivial() -> int:
    return 1


@app.task
def leaf(i: int) -> int:
    return i


@app.task
async def chain(n: int) -> int:
    total = 0
    for i in range(n):
        total += await leaf(i)
    return total


@app.task
async def fan_out(n: int) -> int:
    results = await asyncio.gather(*[leaf(i) for i in range(n)])
    return sum(results)
