"""Start N runs at once with this SDK's async client and await them all; print wall and CPU as JSON.

Usage: python client_wait_ours.py BASE_URL TASK_SLUG N
"""

import asyncio
import json
import sys
import time

from render_sdk import Render


async def main(base_url: str, task: str, n: int) -> None:
    render = Render(token="rnd_benchmark", base_url=base_url)

    async def one(i: int) -> None:
        started = await render.workflows.run_task(task, [i])
        finished = await started
        if finished.status != "completed":
            raise SystemExit(f"run {finished.id} ended {finished.status}")

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(n)))
    print(json.dumps({"wall": time.perf_counter() - wall, "client CPU": time.process_time() - cpu}))


asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
