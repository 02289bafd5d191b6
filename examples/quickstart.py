"""Quickstart: run the example workflow on this machine and trigger its tasks through the `Render` client.

    python examples/quickstart.py

Starts `render-workflows dev` (the local runtime) on a free port with `examples/workflows/main.py` as the
worker, runs the SDK reference's client example and the seed's tasks (square, add_squares, fan_out, and a call
with named arguments) through `Render`, prints the results, stops the server and exits 0, or non-zero if
anything went wrong.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
READY_PREFIX = "Ready at "
READY_TIMEOUT = 60.0
SERVER_OUTPUT: list[str] = []


def start_local_runtime() -> tuple[subprocess.Popen[str], str]:
    """Start `render-workflows dev` on a free port; return the process and its URL once it is ready."""
    env = dict(os.environ)
    # Also works from a checkout that was not installed: the source and generated code are importable.
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), str(REPO / "generated"), *filter(None, [env.get("PYTHONPATH")])]
    )
    command = [
        sys.executable,
        "-m",
        "render_sdk",
        "dev",
        "--port",
        "0",
        "--in-memory",
        "--",
        sys.executable,
        "main.py",
    ]
    server = subprocess.Popen(
        command,
        cwd=HERE / "workflows",
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()
    url: list[str] = []

    def relay() -> None:
        # Show the startup banner; after that the server's status lines are kept for a failure report.
        assert server.stdout is not None
        with server.stdout:
            for line in server.stdout:
                SERVER_OUTPUT.append(line)
                if not ready.is_set():
                    print(f"  {line}", end="", flush=True)
                if line.startswith(READY_PREFIX) and not url:
                    url.append(line[len(READY_PREFIX) :].strip())
                    ready.set()
        ready.set()

    threading.Thread(target=relay, daemon=True).start()
    if not ready.wait(READY_TIMEOUT) or not url:
        server.kill()
        raise SystemExit("the local runtime did not start; see its output above")
    return server, url[0]


async def run_examples() -> None:
    sys.path[:0] = [str(HERE), str(REPO), str(REPO / "generated")]  # works from a checkout, installed or not
    import trigger  # the SDK reference's client example, unchanged

    from render_sdk import Render

    print("\n== The SDK reference's client example (trigger.py)")
    await trigger.main()

    print("\n== The seed's tasks through Render")
    async with Render() as render:
        runs = {
            "square(5)": await render.workflows.run_task("my-workflow/square", [5]),
            "add_squares(3, 4)": await render.workflows.run_task("my-workflow/add_squares", [3, 4]),
            "fan_out(5)": await render.workflows.run_task("my-workflow/fan_out", [5]),
            'greet(name="Ada")': await render.workflows.run_task("my-workflow/greet", {"name": "Ada"}),
        }
        for label, started in runs.items():
            finished = await started
            print(f"{label} -> {finished.results}  ({finished.status}, run {finished.id})")
            if str(finished.status).lower().rsplit(".", 1)[-1] != "completed":
                raise SystemExit(f"{label} did not complete: {finished.status}")


def main() -> int:
    server, url = start_local_runtime()
    os.environ["RENDER_LOCAL_DEV_URL"] = url
    try:
        asyncio.run(run_examples())
    except BaseException:
        print("\nThe local runtime's output:\n" + "".join(SERVER_OUTPUT), file=sys.stderr)
        raise
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    print("\nAll examples completed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
