"""Run every benchmark with its defaults and rewrite ``benchmarks/RESULTS.md``.

Usage: ``python benchmarks/run_all.py [--iterations N] [--warmup N] [--only-ours] [--check]`` (passed to every
script; with ``--check`` it exits 1 after writing RESULTS.md when a script missed a target).
The hand-written part of RESULTS.md, everything from its ``## Notes`` heading on, is kept.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import _harness as h

SCRIPTS = [
    "bench_cold_start.py",
    "bench_subtasks.py",
    "bench_wait_many.py",
    "bench_local_history.py",
    "bench_client_import.py",
    "bench_throughput.py",
]
# The plot RESULTS.md shows (matplotlib: `pip install -e '.[benchmark]'`).
EXTRA_ARGS = {"bench_throughput.py": ["--plot", str(h.BENCH_DIR / "throughput.png")]}
RESULTS = h.BENCH_DIR / "RESULTS.md"
NOTES_HEADING = "## Notes"


def main() -> None:
    passthrough = sys.argv[1:]
    sections = []
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for script in SCRIPTS:
            out = Path(tmp) / f"{script}.md"
            h.log(f"running {script} {' '.join(passthrough)}")
            argv = [
                sys.executable,
                str(h.BENCH_DIR / script),
                *passthrough,
                *EXTRA_ARGS.get(script, []),
                "--markdown",
                str(out),
            ]
            if subprocess.run(argv, check=False).returncode != 0:
                failed.append(script)
            if out.exists():
                sections.append(out.read_text())
    m = h.machine()
    header = [
        "# Benchmark results",
        "",
        "Written by `python benchmarks/run_all.py`; `benchmarks/README.md` says what each script measures.",
        "Ratios are ours / the other side's median: below 1 means ours is faster (or smaller).",
        "",
        f"Machine: {m['cores']} cores ({m['cpu'] or 'unknown CPU'}), {m['implementation']} {m['python']}, "
        f"{m['os']}; {m['date']}; commit {m['commit'] or 'unknown'}. Shared and noisy: read the medians.",
        "",
    ]
    notes = ""
    if RESULTS.exists():
        text = RESULTS.read_text()
        if NOTES_HEADING in text:
            notes = text[text.index(NOTES_HEADING) :]
    RESULTS.write_text("\n".join(header) + "\n".join(sections) + ("\n" + notes if notes else ""))
    h.log(f"wrote {RESULTS}")
    if failed:
        raise SystemExit(f"failed or missed a target (--check): {', '.join(failed)}")


if __name__ == "__main__":
    main()
