"""Start N runs at once with the seed's ``Render`` client and await them all (``_wait_many.py``): the same
program for this SDK and for ``render_sdk==0.3.0``, run by each one's interpreter."""

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
