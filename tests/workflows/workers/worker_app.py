"""Tasks that exercise the worker runtime's edges; the tests run this file as real worker processes."""

import asyncio
import datetime
import functools
import os
import sys
import threading
import time
from pathlib import Path

from render_sdk import Retry, Workflows
from render_sdk.client.errors import TaskRunError

app = Workflows(default_retry=Retry(0, 0), default_timeout=60, default_plan="starter", auto_start=True)

LEAN_CHECKED = ("httpx", "httpcore", "attrs", "anyio", "render_sdk_public_api", "dateutil")


def add_one(x: int) -> int:
    return x + 1


@app.task
def echo(value):
    return value


@app.task
def pair(a: int, b: int = 2) -> tuple[int, int]:
    return (a, b)


@app.task(name="custom-name", timeout=120, plan="pro", retry=Retry(5, 2000, 1.5))
def renamed(numbers: "list[int]", *extra: int, label: str | None = None) -> int:
    return sum(numbers)


@app.task
def no_args() -> str:
    return "ok"


@app.task
async def uses_helper(x: int) -> int:
    return add_one(x)


@app.task
def fails(message: str) -> None:
    raise ValueError(message)


@app.task
def chained() -> None:
    try:
        {}["missing"]
    except KeyError as exc:
        raise RuntimeError("outer failure") from exc


@app.task
async def parent_catches(message: str) -> dict:
    try:
        await fails(message)
    except TaskRunError as exc:
        return {"message": str(exc), "error": exc.error}
    return {}


@app.task
async def parent_fails(message: str) -> None:
    await fails(message)


@app.task
def returns_datetime() -> datetime.datetime:
    return datetime.datetime(2024, 1, 1)


@app.task
def returns_nan() -> list:
    return [1.0, float("nan")]


@app.task
async def bad_subtask_argument() -> None:
    await echo({"when": datetime.date(2024, 1, 1)})


@app.task
async def mixed_arguments() -> None:
    await pair(1, b=2)


@app.task
def sync_calls_subtask() -> None:
    echo(1)


@app.task
async def keyword_subtask() -> list:
    return await pair(a=1)


@app.task
async def list_results() -> list:
    return [await echo([5]), await echo([[1]]), await echo([]), await echo(None), await pair(3)]


@app.task
async def nested(depth: int) -> int:
    if depth == 0:
        return await uses_helper(0)
    return 10 * await nested(depth - 1)


@app.task
def meet(value: int, n: int, barrier: str) -> int:
    """Arrive at the directory ``barrier``, then wait until all ``n`` subtasks have arrived: only subtasks
    that run at the same time get past it."""
    Path(barrier, str(value)).touch()
    deadline = time.monotonic() + 30
    while len(os.listdir(barrier)) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(os.listdir(barrier))} of {n} subtasks ran at the same time")
        time.sleep(0.01)
    return value


@app.task
async def parallel(n: int, barrier: str) -> list[int]:
    return list(await asyncio.gather(*[meet(i, n, barrier) for i in range(n)]))


@app.task
async def fire_and_forget() -> str:
    echo("not awaited")
    return "done"


@app.task
def body_thread() -> dict:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        event_loop = False
    else:
        event_loop = True
    return {"main_thread": threading.current_thread() is threading.main_thread(), "event_loop": event_loop}


def plain_wrapper(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)  # A coroutine, from a plain function: the task is not async.

    return wrapper


@app.task
@plain_wrapper
async def wrapped_coroutine(value: int) -> int:
    return await echo(value) + 1


@app.task
def exits() -> None:
    raise SystemExit(3)


@app.task
def heavy_modules() -> list:
    return sorted(name for name in sys.modules if name.split(".")[0] in LEAN_CHECKED)
