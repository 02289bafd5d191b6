"""Start N runs at once with ``render==1.5.0``'s async client (``RenderAsync``) and await them all (see
``_wait_many.py``). ``run_task`` there starts a run and waits for it (``start_task`` + ``await``)."""

import sys

from _wait_many import main
from render import RenderAsync

render = RenderAsync(token="rnd_benchmark", base_url=sys.argv[1])


async def one(i: int) -> None:
    finished = await render.workflows.run_task(sys.argv[2], [i])
    if finished.status.value != "completed":
        raise RuntimeError(f"run {finished.id} ended {finished.status}")


main(one)
