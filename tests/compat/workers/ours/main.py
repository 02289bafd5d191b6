"""Tasks the official clients drive in the compat tests: one that finishes, one that fails, one that waits.

Written with this repository's SDK; the official clients only see the local runtime's REST API and events.
"""

import time

from render_sdk import Retry, Workflows

app = Workflows(auto_start=True)


@app.task
def square(a: int) -> int:
    return a * a


@app.task(retry=Retry(max_retries=0, wait_duration_ms=0))
def always_fails(reason: str) -> None:
    raise ValueError(reason)


@app.task
def sleep(seconds: float) -> float:
    """Stay running long enough to be canceled."""
    time.sleep(seconds)
    return seconds
