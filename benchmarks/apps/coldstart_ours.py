"""Worker cold-start app for this SDK: 20 tasks, started by ``auto_start`` (the seed's idiom)."""

from render_sdk import Retry, Workflows

app = Workflows(
    default_retry=Retry(max_retries=3, wait_duration_ms=1000, backoff_scaling=2.0),
    default_timeout=300,
    auto_start=True,
)


@app.task
def task_00(a: int) -> int:
    return a + 1


@app.task
def task_01(a: int, b: int) -> int:
    return a * b


@app.task
def task_02(text: str) -> str:
    return text.upper()


@app.task
def task_03(items: list[float], scale: float = 1.0) -> list[float]:
    return [x * scale for x in items]


@app.task
async def task_04(a: int) -> int:
    return a - 1


@app.task
def task_05(a: int) -> int:
    return a + 1


@app.task
def task_06(a: int, b: int) -> int:
    return a * b


@app.task
def task_07(text: str) -> str:
    return text.upper()


@app.task
def task_08(items: list[float], scale: float = 1.0) -> list[float]:
    return [x * scale for x in items]


@app.task
async def task_09(a: int) -> int:
    return a - 1


@app.task
def task_10(a: int) -> int:
    return a + 1


@app.task
def task_11(a: int, b: int) -> int:
    return a * b


@app.task
def task_12(text: str) -> str:
    return text.upper()


@app.task
def task_13(items: list[float], scale: float = 1.0) -> list[float]:
    return [x * scale for x in items]


@app.task
async def task_14(a: int) -> int:
    return a - 1


@app.task
def task_15(a: int) -> int:
    return a + 1


@app.task
def task_16(a: int, b: int) -> int:
    return a * b


@app.task
def task_17(text: str) -> str:
    return text.upper()


@app.task
def task_18(items: list[float], scale: float = 1.0) -> list[float]:
    return [x * scale for x in items]


@app.task
async def task_19(a: int) -> int:
    return a - 1
