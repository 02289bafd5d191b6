"""The SDK reference's arithmetic tasks, written against ``render_sdk==0.3.0``."""

import asyncio

from main import app


@app.task
def square(a: int) -> int:
    return a * a


@app.task
async def add_squares(a: int, b: int) -> int:
    result1 = await square(a)  # runs subtask in its own instance
    result2 = await square(b)
    return result1 + result2


@app.task
async def fan_out(n: int) -> list[int]:
    squares = [square(i) for i in range(n)]
    results = await asyncio.gather(*squares)
    return list(results)
