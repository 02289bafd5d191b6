"""What every ``client_wait_*.py`` app shares (stdlib only, imported by each SDK's interpreter): start N
waits at once, stop at a time limit, and print one JSON line.

Usage of an app: ``python client_wait_X.py BASE_URL TASK_SLUG N TIME_LIMIT_SECONDS``.

The JSON line holds ``wall`` (first ``run_task`` to the last result, or to the time limit when waits were
still pending), ``client CPU`` (this process's CPU time over the same span), ``finished`` (waits that returned
a completed run), ``failed`` (waits that raised, with the first ``error``) and ``timed out`` (waits still
pending at the limit).

The limit is kept by a thread, which prints and ends the process there, abandoning the pending waits: a
client can keep its event loop busy for minutes in one go (a connection pool that scans every queued request
for each new one), so a timeout inside the loop could fire far too late, and canceling thousands of waits can
take as long.
"""

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable


class _Tally:
    """Counts finished and failed waits (in the event loop's thread) and prints the result once."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.finished = 0
        self.failed = 0
        self.error = ""
        self._lock = threading.Lock()
        self._printed = False
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def done(self, wait: "asyncio.Future[None]") -> None:
        error = wait.exception()
        if error is None:
            self.finished += 1
        else:
            self.failed += 1
            self.error = self.error or repr(error)

    def report(self) -> None:
        wall, cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu
        with self._lock:
            if self._printed:
                return
            self._printed = True
            measured = {"wall": wall, "client CPU": cpu, "finished": self.finished, "failed": self.failed}
            measured["timed out"] = self.count - self.finished - self.failed
            if self.error:
                measured["error"] = self.error
            print(json.dumps(measured), flush=True)


def main(one: Callable[[int], Awaitable[None]]) -> None:
    """Run ``one(i)`` for i in 0..N-1 concurrently, within the time limit given on the command line."""
    count, time_limit = int(sys.argv[3]), float(sys.argv[4])
    asyncio.run(_measure(one, count, time_limit))


async def _measure(one: Callable[[int], Awaitable[None]], count: int, time_limit: float) -> None:
    tally = _Tally(count)

    def give_up() -> None:
        tally.report()
        os._exit(0)

    watchdog = threading.Timer(time_limit, give_up)
    watchdog.daemon = True
    watchdog.start()
    waits = [asyncio.ensure_future(one(i)) for i in range(count)]
    for wait in waits:
        wait.add_done_callback(tally.done)
    await asyncio.wait(waits)
    watchdog.cancel()
    tally.report()
