"""A worker for the local runtime's tests: tasks that exit hard, hang, fan out and record themselves."""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from render_sdk import Retry, Workflows

app = Workflows(default_retry=Retry(max_retries=0, wait_duration_ms=0), auto_start=True)


@app.task
def square(a: int) -> int:
    return a * a


@app.task
def socket_path() -> str:
    return os.environ["RENDER_SDK_SOCKET_PATH"]


@app.task
def exit_hard(code: int) -> None:
    print("about to exit hard", file=sys.stderr, flush=True)
    os._exit(code)


@app.task(timeout=30)
def hang(seconds: float) -> str:
    time.sleep(seconds)
    return "woke up"


@app.task(retry=Retry(max_retries=2, wait_duration_ms=100, backoff_scaling=1.0))
def slow_then_done(pid_dir: str, seconds: float) -> str:
    """Record this attempt's pid, sleep (the first attempt only), succeed: to kill the server mid-attempt."""
    first = not any(Path(pid_dir).iterdir())
    Path(pid_dir, f"{os.getpid()}.pid").write_text(str(os.getpid()))
    time.sleep(seconds if first else 0)
    return "done"


@app.task
def record(log_path: str, seconds: float) -> int:
    """Append start and end lines with this process's pid, to measure how many attempts overlap."""
    with open(log_path, "a") as log:
        log.write(f"start {os.getpid()} {time.time()}\n")
    time.sleep(seconds)
    with open(log_path, "a") as log:
        log.write(f"end {os.getpid()} {time.time()}\n")
    return os.getpid()


@app.task
def sleeper(pid_dir: str) -> None:
    """Start a grandchild process, record both pids, and sleep until stopped."""
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    Path(pid_dir, f"{os.getpid()}.pid").write_text(str(os.getpid()))
    Path(pid_dir, f"{grandchild.pid}.pid").write_text(str(grandchild.pid))
    time.sleep(300)


@app.task
async def sleepy_fan_out(pid_dir: str, n: int) -> list[None]:
    Path(pid_dir, f"{os.getpid()}.pid").write_text(str(os.getpid()))
    return list(await asyncio.gather(*[sleeper(pid_dir) for _ in range(n)]))


@app.task
async def tree(depth: int, fanout: int) -> int:
    """Count the nodes of a tree of subtasks: each node gathers its children."""
    if depth == 0:
        return 1
    return 1 + sum(await asyncio.gather(*[tree(depth - 1, fanout) for _ in range(fanout)]))


@app.task
async def chain(n: int) -> int:
    """A line of n subtasks, each waiting for the next."""
    return 0 if n == 0 else 1 + await chain(n - 1)
