"""Every benchmark script runs end to end with one iteration and tiny sizes, references included.

These do not judge speed (that is ``benchmarks/RESULTS.md``'s job); they keep the scripts from rotting. The
first run installs the reference SDKs into ``benchmarks/.venvs/`` (about 15 s); later runs reuse them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    ("script", "args", "expected_sides"),
    [
        (
            "bench_cold_start.py",
            (),
            {"ours", "render==1.5.0", "render_sdk==0.3.0", "floor (stdlib only)"},
        ),
        ("bench_subtasks.py", ("--chain", "2", "--fan-out", "3"), {"ours", "render_sdk==0.3.0"}),
        ("bench_wait_many.py", ("--runs", "5"), {"ours", "render_sdk==0.3.0"}),
        ("bench_local_history.py", ("--sizes", "20,40", "--requests", "5"), {"20 runs", "40 runs"}),
        ("bench_client_import.py", (), {"ours", "render==1.5.0", "render_sdk==0.3.0"}),
        ("bench_throughput.py", ("--runs", "20"), {"ours", "ours, --prefork", "floor (stdlib worker)"}),
    ],
)
def test_benchmark_script_runs(
    script: str, args: tuple[str, ...], expected_sides: set[str], tmp_path: Path
) -> None:
    result = run_script(script, *args, tmp_path=tmp_path)
    assert expected_sides <= sides(result)
    machine = result["machine"]
    assert isinstance(machine, dict) and machine["cores"] >= 1


def test_only_ours_needs_no_reference(tmp_path: Path) -> None:
    result = run_script("bench_client_import.py", "--only-ours", tmp_path=tmp_path)
    assert "render==1.5.0" not in sides(result)
    assert "ours" in sides(result)
