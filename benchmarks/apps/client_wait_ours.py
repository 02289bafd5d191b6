"""Start N runs at once with this SDK's async client and await them all (``_wait_many.py``)."""

import sys

from _wait_many import main

from render_sdk import Render

render = Render(token="rnd_benchmark", base_url=sys.argv[1])


async def one(i: int) -> None:
    started = await render.workflows.run_task(sys.argv[2], [i])
    finished = await started
    if finished.status != "completed":
        raise RuntimeError(f"run {finished.id} ended {finished.status}")


main(one)
