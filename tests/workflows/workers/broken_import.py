"""A worker whose import fails after its auto-starting app exists: it must not register part of its tasks."""

from render_sdk import Workflows

app = Workflows(auto_start=True)


@app.task
def defined_before_the_failure() -> None: ...


raise ImportError("a dependency is missing")
