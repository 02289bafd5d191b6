"""A task that reports which SDK executed it, so the test knows the official release (not ours) ran."""

import render_sdk
from main import app


@app.task
def sdk_version() -> str:
    return render_sdk.__version__
