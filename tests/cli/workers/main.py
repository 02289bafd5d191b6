"""The CLI tests' worker: a tree three levels deep, a failure, a run to cancel, and one that logs."""

import asyncio
import os
import sys
import time

from render_sdk import Retry, Workflows

app = Workflows(auto_start=True)


@app.task
def square(a: int) -> int:
    return a * a


@app.task
async def fan_out(n: int) -> list[int]:
    return list(await asyncio.gather(*(square(i) for i in range(n))))


@app.task
async def tree(width: int) -> list[list[int]]:
    """A root, `width` fan_out subtasks, and two squares under each: a tree of three levels."""
    return list(await asyncio.gather(*(fan_out(2) for _ in range(width))))


@app.task(retry=Retry(max_retries=0, wait_duration_ms=0))
def fails(reason: str) -> None:
    raise ValueError(reason)


@app.task
def sleeps(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.task
async def waits_on_child(seconds: float) -> float:
    return await sleeps(seconds)


@app.task(retry=Retry(max_retries=2, wait_duration_ms=50, backoff_scaling=1.5), timeout=120, plan="starter")
def chatty(lines: int, pause: float = 0.0, gate: str = "") -> int:
    """Print `lines` numbered lines, `pause` seconds apart; with `gate`, wait after the first line until that
    file exists."""
    for number in range(1, lines + 1):
        print(f"line {number} of {lines}", flush=True)
        if number == 1 and gate:
            while not os.path.exists(gate):
                time.sleep(0.02)
        if number < lines:
            time.sleep(pause)
    print("done", file=sys.stderr, flush=True)
    return lines
