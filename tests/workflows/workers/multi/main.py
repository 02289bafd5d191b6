"""The multi-file layout with a task in the entry point too (defined twice: as __main__ and as main)."""

from render_sdk import Workflows

app = Workflows(auto_start=True)


@app.task
def hello(name: str) -> str:
    return f"hello {name}"


import more_tasks  # noqa: E402, F401
