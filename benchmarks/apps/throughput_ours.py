"""The throughput benchmark's app for this SDK: one trivial task."""

from render_sdk import Workflows

app = Workflows(auto_start=True)


@app.task
def square(x: int) -> int:
    return x * x
