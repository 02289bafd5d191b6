"""Subtask round-trip app for ``render==1.5.0``: tasks take a TaskContext first and call subtasks with
``await ctx.run(task, ...)``; started with ``app.start()`` (1.5.0 has no ``auto_start``)."""

import asyncio

from render import TaskContext, Workflows

app = Workflows()


@app.task
def trivial(ctx: TaskContext) -> int:
    return 1


@app.task
def leaf(ctx: TaskContext, i: int) -> int:
    return i


@app.task
async def chain(ctx: TaskContext, n: int) -> int:
    total = 0
    for i in range(n):
        total += await ctx.run(leaf, i)
    return total


@app.task
async def fan_out(ctx: TaskContext, n: int) -> int:
    results = await asyncio.gather(*[ctx.run(leaf, i) for i in range(n)])
    return sum(results)


if __name__ == "__main__":
    app.start()
