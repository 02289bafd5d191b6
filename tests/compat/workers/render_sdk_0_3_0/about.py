"""A task that reports which SDK executed it, so the test knows the official release (not ours) ran."""

from main import app

import render_sdk


@app.task
def sdk_version() -> str:
    return render_sdk.__version__
