"""Record every cassette anew: ``python cassettes/record.py [pytest options]``.

Runs the scenarios of ``tests/client/test_cassettes.py`` in record mode: each one starts a local runtime
(``render-workflows dev``, serving ``tests/compat/workers/ours``) on an ephemeral port, runs against it with
vcrpy recording, and writes ``cassettes/<scenario>.yaml``. Then it replays them all once (with the schema
checks), so a recording that does not replay fails here rather than in CI. If either step fails, the previous
cassettes are put back. Review the diff like code before committing it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASSETTES = ROOT / "cassettes"
TESTS = "tests/client/test_cassettes.py"
# The scenarios only: the tests of the cassettes themselves need all of them, so they run in the replay step.
SCENARIOS_ONLY = "not openapi and not tampered and not stale and not secrets and not network"


def pytest(args: list[str], env: dict[str, str]) -> int:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TESTS, *args]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    env.pop("RENDER_SDK_RECORD_CASSETTES", None)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), str(ROOT / "generated"), env.get("PYTHONPATH")])
    )
    with tempfile.TemporaryDirectory() as backup:
        previous = sorted(CASSETTES.glob("*.yaml"))
        for cassette in previous:
            shutil.move(cassette, Path(backup) / cassette.name)
        status = pytest(["-k", SCENARIOS_ONLY, *argv], {**env, "RENDER_SDK_RECORD_CASSETTES": "1"})
        if status == 0:
            status = pytest(argv, env)
        if status != 0:
            for cassette in CASSETTES.glob("*.yaml"):
                cassette.unlink()
            for cassette in previous:
                shutil.move(Path(backup) / cassette.name, cassette)
            print("recording failed; the previous cassettes are back in place", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
