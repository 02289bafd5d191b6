"""Every benchmark script runs end to end with one iteration and tiny sizes, references included.

These do not judge speed (that is ``benchmarks/RESULTS.md``'s job); they keep the scripts from rotting. The
first run installs the reference SDKs (``benchmarks/_venvs.py``, shared with ``tests/compat``); later runs
reuse them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow(seconds=30)

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SMOKE = ["--iterations", "1", "--warmup", "0"]


def run_script(script: str, *args: str, tmp_path: Path) -> dict[str, object]:
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *SMOKE, *args, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    assert "| case | metric | side |" in done.stdout
    result: dict[str, object] = json.loads(out.read_text())
    return result


def sides(result: dict[str, object]) -> set[str]:
    rows = result["rows"]
    assert isinstance(rows, list) and rows
    return {row["side"] for row in rows}


@pytest.mark.parametrize(
    ("script", "args", "expected_sides", "expected_targets"),
    [
        (
            "bench_cold_start.py",
            ("--count-modules", "ours"),
            {"ours", "render==1.5.0", "render_sdk==0.3.0", "floor (stdlib only)", "render-workflows dev"},
            {"cold start median <= 0.5x render==1.5.0"},
        ),
        (
            "bench_subtasks.py",
            ("--chain", "1", "--fan-out", "1"),
            {"ours", "ours, --prefork", "render==1.5.0", "render_sdk==0.3.0", "floor (stdlib worker)"},
            # A ratio target is recorded only when both sides were measured in that case.
            {
                "(b) ours: within 2x of the floor",
                "(c) ours: at least 2x faster than render==1.5.0",
                "(c) ours, --prefork: at least 5x faster than render==1.5.0",
                "(c) ours, --prefork: within 1.5x of the floor",
            },
        ),
        (
            "bench_wait_many.py",
            ("--runs", "3"),
            {"ours", "render==1.5.0", "render_sdk==0.3.0"},
            {
                "3 runs: at least 3x faster than render==1.5.0",
                "3 runs: at most 2 event-stream connections for all waits",
            },
        ),
        ("bench_local_history.py", ("--sizes", "20,40", "--requests", "5"), {"20 runs", "40 runs"}, set()),
        ("bench_client_import.py", (), {"ours", "render==1.5.0", "render_sdk==0.3.0"}, set()),
        (
            "bench_throughput.py",
            ("--runs", "20"),
            {"ours", "ours, --prefork", "floor (stdlib worker)"},
            {
                "ours, --prefork: within 1.5x of the floor worker's throughput",
                "ours, --prefork: at least 300 runs/s",
            },
        ),
    ],
)
def test_benchmark_script_runs(
    script: str, args: tuple[str, ...], expected_sides: set[str], expected_targets: set[str], tmp_path: Path
) -> None:
    result = run_script(script, *args, tmp_path=tmp_path)
    assert expected_sides <= sides(result)
    found = result["targets"]
    assert isinstance(found, list)
    assert expected_targets <= {target["description"] for target in found}
    machine = result["machine"]
    assert isinstance(machine, dict) and machine["cores"] >= 1


def test_only_ours_needs_no_reference(tmp_path: Path) -> None:
    result = run_script("bench_client_import.py", "--only-ours", tmp_path=tmp_path)
    assert "render==1.5.0" not in sides(result)
    assert "ours" in sides(result)
