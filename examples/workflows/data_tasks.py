"""Small tasks showing keyword arguments, retries that recover, and a task that always fails."""

from pathlib import Path

from main import app

from render_sdk import Retry


@app.task
def greet(name: str, punctuation: str = "!") -> str:
    return f"Hello, {name}{punctuation}"


@app.task(retry=Retry(max_retries=3, wait_duration_ms=100, backoff_scaling=2.0))
def flaky(counter_path: str, failures: int = 2) -> str:
    """Fail the first `failures` attempts, then succeed; attempts are counted in the file at `counter_path`.

    Every attempt runs in a new process, so the count lives in a file the caller chooses.
    """
    counter = Path(counter_path)
    attempt = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} failed on purpose")
    return f"succeeded on attempt {attempt}"


@app.task(retry=Retry(max_retries=1, wait_duration_ms=100))
def always_fails(reason: str = "this task always fails") -> None:
    raise ValueError(reason)
