"""Worker cold-start app for ``render==1.5.0``: 20 tasks, each taking a TaskContext first.

1.5.0 has no ``auto_start``; its documented entry points are ``render-workflows app:app`` or ``app.start()``.
The script calls ``app.start()`` directly, the cheaper of the two.
"""

from render import Retry, TaskContext, Workflows

app = Workflows(
    default_retry=Retry(max_retries=3, wait_duration_ms=1000, backoff_scaling=2.0),
    default_timeout=300,
)


@app.task
def task_00(ctx: TaskContext, a: int) -> int:
    return a + 1


@app.task
def task_01(ctx: TaskContext, a: int, b: int) -> int:
    return a * b


@app.task
def task_02(ctx: TaskContext, text: str) -> str:
    return text.upper()


@app.task
def task_03(ctx: TaskContext, items: list[float], scale: float = 1.0) -> list[float]:
    return [x * scale for x in items]


@app.task
async def task_04(ctx: TaskContext, a: int) -> int:
    return a - 1


@app.task
def task_05(ctx: TaskContext, a: int) -> int:
    return a + 1


@app.task
def task_06(ctx: TaskContext, a: int, b: int) -> int:
    return a * b


@app.task
def task_07(ctx: TaskContext, text: str) -> str:
    return text.upper()


@app.task
def task_08(ctx: TaskContext, items: list[float], scale: float = 1.0) -> list[float]:
    return [x * scale for x in items]


@app.task
async def task_09(ctx: TaskContext, a: int) -> int:
    return a - 1


@app.task
def task_10(ctx: TaskContext, a: int) -> int:
    return a + 1


@app.task
def task_11(ctx: TaskContext, a: int, b: int) -> int:
    return a * b


@app.task
def task_12(ctx: TaskContext, text: str) -> str:
    return text.upper()


@app.task
def task_13(ctx: TaskContext, items: list[float], scale: float = 1.0) -> list[float]:
    return [x * scale for x in items]


@app.task
async def task_14(ctx: TaskContext, a: int) -> int:
    return a - 1


@app.task
def task_15(ctx: TaskContext, a: int) -> int:
    return a + 1


@app.task
def task_16(ctx: TaskContext, a: int, b: int) -> int:
    return a * b


@app.task
def task_17(ctx: TaskContext, text: str) -> str:
    return text.upper()


@app.task
def task_18(ctx: TaskContext, items: list[float], scale: float = 1.0) -> list[float]:
    return [x * scale for x in items]


@app.task
async def task_19(ctx: TaskContext, a: int) -> int:
    return a - 1


if __name__ == "__main__":
    app.start()
