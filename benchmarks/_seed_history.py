"""Fill a local-runtime store with finished runs: ``python _seed_history.py DB TASK_NAME TOTAL``.

Runs go through the runtime's own state machine (``RunStates``: create, start an attempt, complete it), so
each seeded run has exactly the rows and fields of a run the server executed, without starting thousands of
worker processes. Run it while no server uses the file. Prints how many runs the store holds afterwards.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from render_sdk.local.engine.states import RunStates
from render_sdk.local.engine.store import Store


def main(db: Path, task_name: str, total: int) -> None:
    with sqlite3.connect(db) as raw:
        have = int(raw.execute("SELECT COUNT(*) FROM task_runs").fetchone()[0])
    store = Store(db)
    try:
        task = store.get_task_by_name(task_name)
        if task is None:
            raise SystemExit(f"no task {task_name!r} in {db}; start the server once so it registers")
        states = RunStates(store)
        for i in range(have, total):
            run = states.create_run(task, [i])
            started = states.start_attempt(run.id)
            assert started is not None
            if not states.complete_attempt(run.id, started[1], [None]):
                raise SystemExit(f"could not complete seeded run {run.id}")
    finally:
        store.close()
    print(max(have, total))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
