"""A task app written for the official ``render==1.5.0`` (TaskContext style: every task takes ``ctx`` first).

Run by the compat tests with that release's Python as the worker command of our local runtime.
"""

import asyncio

import render
from render import TaskContext, Workflows

app = Workflows()


@app.task
def square(ctx: TaskContext, a: int) -> int:
    return a * a


@app.task
async def add_squares(ctx: TaskContext, a: int, b: int) -> int:
    result1 = await ctx.run(square, a)  # runs subtask in its own instance
    result2 = await ctx.run(square, b)
    return result1 + result2


@app.task
async def fan_out(ctx: TaskContext, n: int) -> list[int]:
    results = await asyncio.gather(*(ctx.run(square, i) for i in range(n)))
    return list(results)


@app.task
def sdk_version(ctx: TaskContext) -> str:
    return render.__version__


def run_ids(ctx: TaskContext) -> dict[str, str | None]:
    metadata = ctx.metadata
    return {
        "task_run_id": metadata.task_run_id,
        "root_task_run_id": metadata.root_task_run_id,
        "parent_task_run_id": metadata.parent_task_run_id,
    }


@app.task
def whoami(ctx: TaskContext) -> dict[str, str | None]:
    return run_ids(ctx)


@app.task
async def lineage(ctx: TaskContext) -> dict[str, dict[str, str | None]]:
    """Its own ``ctx.metadata`` ids and those its subtask ``whoami`` sees."""
    return {"self": run_ids(ctx), "child": await ctx.run(whoami)}


if __name__ == "__main__":
    app.start()
