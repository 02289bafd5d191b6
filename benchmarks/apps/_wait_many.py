"""What every ``client_wait_*.py`` app shares (stdlib only, imported by each SDK's interpreter): start N
waits at once, stop at a time limit, and print one JSON line.

Usage of an app: ``python client_wait_X.py BASE_URL TASK_SLUG N TIME_LIMIT_SECONDS``.

The JSON line holds ``wall`` (first ``run_task`` to the last result, or to the time limit when waits were
still pending), ``client CPU`` (this process's CPU time over the same span), ``finished`` (waits that returned
a completed run), ``failed`` (waits that raised, with the first ``error``) and ``timed out`` (waits still
pending at the limit). At the limit the process prints and exits at once, abandoning the pending waits:
canceling thousands of them can take minutes in some clients (a connection pool that scans every queued
request).
"""

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable


def main(one: Callable[[int], Awaitable[None]]) -> None:
    """Run ``one(i)`` for i in 0..N-1 concurrently, within the time limit given on the command line."""
    count, time_limit = int(sys.argv[3]), float(sys.argv[4])
    asyncio.run(_measure(one, count, time_limit))


async def _measure(one: Callable[[int], Awaitable[None]], count: int, time_limit: float) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    waits = [asyncio.ensure_future(one(i)) for i in range(count)]
    done, pending = await asyncio.wait(waits, timeout=time_limit)
    elapsed, cpu = time.perf_counter() - wall, time.process_time() - cpu
    measured: dict[str, object] = {"wall": elapsed, "client CPU": cpu}
    errors = [repr(w.exception()) for w in done if w.exception() is not None]
    measured |= {"finished": len(done) - len(errors), "failed": len(errors), "timed out": len(pending)}
    if errors:
        measured["error"] = errors[0]
    print(json.dumps(measured), flush=True)
    if pending:
        os._exit(0)
