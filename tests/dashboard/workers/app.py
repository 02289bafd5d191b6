"""The dashboard tests' worker: a fan-out tree, a failure with a stack trace, live logs, a tree to cancel."""

import asyncio
import os
import time

from render_sdk import Retry, Workflows

app = Workflows(default_retry=Retry(max_retries=0, wait_duration_ms=0), auto_start=True)


@app.task
def square(a: int) -> int:
    return a * a


def wait_for(gate: str) -> None:
    while not os.path.exists(gate):
        time.sleep(0.02)


@app.task
async def leaf(i: int, gate: str) -> int:
    """Wait until the file ``gate`` exists, then a little longer the larger ``i``, then start a subtask."""
    await asyncio.to_thread(wait_for, gate)
    await asyncio.sleep(0.15 * i)
    return await square(i)


@app.task
async def fan_out(n: int, gate: str) -> list[int]:
    """n subtasks, each with a subtask of its own: a tree three levels deep."""
    print(f"fanning out to {n} leaves", flush=True)
    results = list(await asyncio.gather(*[leaf(i, gate) for i in range(n)]))
    print(f"all {n} leaves done: {results}", flush=True)
    return results


def parse_config(text: str) -> dict[str, str]:
    key, separator, value = text.partition("=")
    if not separator:
        raise ValueError(f"config line {text!r} has no '='")
    return {key: value}


@app.task(retry=Retry(max_retries=1, wait_duration_ms=300, backoff_scaling=1.0))
def load_config(text: str) -> dict[str, str]:
    return parse_config(text)


@app.task
def chatty(lines: int, gate: str) -> int:
    """Print the first half of its lines, wait until the file ``gate`` exists, then print the rest."""
    for number in range(1, lines + 1):
        if number == lines // 2 + 1:
            wait_for(gate)
        print(f"step {number} of {lines}", flush=True)
    return lines


@app.task
def hold(seconds: float) -> str:
    time.sleep(seconds)
    return "held"


@app.task
async def hold_tree(n: int) -> list[str]:
    return list(await asyncio.gather(*[hold(60) for _ in range(n)]))


@app.task(timeout=120, plan="starter")
def greet(name: str, punctuation: str = "!") -> str:
    return f"Hello, {name}{punctuation}"
