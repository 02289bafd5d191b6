"""Entry point of the example worker: one app, tasks in several files (the SDK reference's layout).

Start it as `python main.py` (Render sets RENDER_SDK_MODE and RENDER_SDK_SOCKET_PATH), or run its tasks on
this machine with `render-workflows dev -- python main.py`.
"""

from render_sdk import Workflows

app = Workflows(auto_start=True)

import math_tasks  # noqa: E402, F401, I001 - registers the tasks in math_tasks.py
import data_tasks  # noqa: E402, F401 - registers the tasks in data_tasks.py
