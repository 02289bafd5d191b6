"""One app in both task styles: the seed's (call a task, await the TaskInstance) and Render SDK 1.x's
(a TaskContext first, ``await ctx.run(task, ...)``), calling each other. Run as real worker processes by the
tests, and type-checked by mypy --strict in the suite (tests/workflows/test_task_context.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from render_sdk import Retry, TaskContext, Workflows
from render_sdk.workflows import current_run

app = Workflows(default_retry=Retry(0, 0), auto_start=True)


@app.task
def square(a: int) -> int:
    """Seed style, sync."""
    return a * a


@app.task
async def cube(ctx: TaskContext, a: int) -> int:
    """1.x style, async, with no subtask."""
    return a * a * a


@app.task
def whoami(ctx: TaskContext) -> dict[str, Any]:
    """1.x style, sync: the context's metadata."""
    return ctx.metadata._asdict()


@app.task
async def ctx_parent(ctx: TaskContext, n: int) -> dict[str, Any]:
    """1.x style calling both styles, in parallel with asyncio.gather over ctx.run."""
    squares = await asyncio.gather(*(ctx.run(square, i) for i in range(n)))
    return {
        "squares": list(squares),
        "cube": await ctx.run(cube, a=n),
        "child": await ctx.run(whoami),
        "me": ctx.metadata._asdict(),
        "current_run": current_run()._asdict(),
    }


@app.task
async def seed_parent(n: int) -> dict[str, Any]:
    """Seed style calling both styles: calling a 1.x task starts it the same way."""
    squares = await asyncio.gather(*[square(i) for i in range(n)])
    return {
        "squares": list(squares),
        "cube": await cube(n),
        "child": await whoami(),
        "me": current_run()._asdict(),
        "nested": await ctx_parent(1),
    }
