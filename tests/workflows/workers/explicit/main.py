"""The multi-file layout started explicitly: the tasks end up on the app of module `main`, not `__main__`."""

from render_sdk import Workflows

app = Workflows()

import tasks  # noqa: E402, F401

if __name__ == "__main__":
    app.start()
    print("start returned")
