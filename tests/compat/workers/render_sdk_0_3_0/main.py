"""A task app written for the official ``render_sdk==0.3.0``, laid out as the SDK reference shows.

Run by the compat tests with that release's Python (a throwaway virtual environment) as the worker command of
our local runtime: ``render-workflows dev -- <venv>/bin/python -E main.py``. In 0.3.0 this layout runs every
task twice per process (``from main import app`` imports this file a second time, render-protocol §6.1 #19);
the runtime must still record one result per run.
"""

from render_sdk import Workflows

app = Workflows(auto_start=True)

import math_tasks  # noqa: E402, F401, I001 - registers the tasks in math_tasks.py
import about  # noqa: E402, F401 - registers sdk_version
