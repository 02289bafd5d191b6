"""The SDK reference's client example: start `square` and wait for its result.

Run it against the local runtime with no API key::

    render-workflows dev -- python workflows/main.py      # in one terminal
    RENDER_USE_LOCAL_DEV=true python trigger.py            # in another
"""

import asyncio

from render_sdk import Render


async def main():
    render = Render()  # uses RENDER_API_KEY from environment

    # Run a task
    started = await render.workflows.run_task(
        task_identifier="my-workflow/square",
        input_data=[5],
    )
    print(f"Task started: {started.id}, status: {started.status}")

    # Wait for completion (SSE streaming)
    finished = await started
    print(f"Result: {finished.results}")


if __name__ == "__main__":
    asyncio.run(main())
