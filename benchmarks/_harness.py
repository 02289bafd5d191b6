"""Shared machinery for the side-by-side benchmarks.

Every script compares "ours" (this repository on ``PYTHONPATH``, run by an interpreter whose environment holds
only our runtime dependencies) with one or more references installed from PyPI into throwaway virtual
environments shared with the compatibility tests (``_venvs.py``). Sides run alternately, one after the other
inside each iteration and starting with a different side each time, so a noisy neighbour slows every side
alike. The result is a table of min / median / max per side and the ratio of our median to each reference's
median.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# reference_env: the environment for a process that must see only its own interpreter's packages.
from _venvs import ensure_venv
from _venvs import isolated_env as reference_env

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "benchmarks"
# Also the working directory of every measured process: `python -c` puts the working directory first on
# sys.path, and from the repository root `import render_sdk` would find ours instead of a reference's.
APPS_DIR = BENCH_DIR / "apps"


@dataclass(frozen=True)
class Reference:
    """A published SDK release installed into its own virtual environment."""

    label: str
    requirement: str

    @property
    def venv_name(self) -> str:
        return self.requirement.replace("==", "-")


RENDER_150 = Reference("render==1.5.0", "render==1.5.0")
RENDER_SDK_030 = Reference("render_sdk==0.3.0", "render_sdk==0.3.0")


def ensure_reference(ref: Reference) -> Path:
    """Create ``ref``'s virtual environment unless an identical one exists, and return its interpreter."""
    return ensure_venv(ref.venv_name, [ref.requirement])


def ensure_ours() -> Path:
    """A virtual environment holding only our runtime dependencies (``[project] dependencies``).

    Our code itself runs from the repository through ``PYTHONPATH``. The development environment is not used
    for measuring because it holds extra packages (codegen's, the tests') that can change import costs.
    """
    return ensure_venv("ours-deps", our_dependencies())


def our_dependencies() -> list[str]:
    import tomllib

    with (REPO / "pyproject.toml").open("rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def ours_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a process running this repository's SDK with the current interpreter."""
    env = reference_env(extra)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "generated")])
    return env


@dataclass(frozen=True)
class Side:
    """One column of a comparison: an interpreter, its environment, and what it runs."""

    name: str
    python: str
    env: dict[str, str]
    ours: bool = False
    details: dict[str, Any] = field(default_factory=dict)


def compile_ours() -> None:
    """Write bytecode for this repository's packages, as ``pip install`` does for the references."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "render_sdk"), str(REPO / "generated")],
        check=True,
        env=reference_env(),
    )


def our_side(name: str = "ours", **details: Any) -> Side:
    python = ensure_ours()
    compile_ours()
    return Side(name, str(python), ours_env(), ours=True, details=dict(details))


def reference_side(ref: Reference, **details: Any) -> Side:
    return Side(ref.label, str(ensure_reference(ref)), reference_env(), details=dict(details))


# ---------------------------------------------------------------------------------------------------------
# Command line


def modules_imported(importtime_log: str) -> int:
    """How many modules a process imported, from what ``python -X importtime`` wrote to its stderr."""
    return len(
        {
            line.rsplit("|", 1)[1].strip()
            for line in importtime_log.splitlines()
            if line.startswith("import time:") and "imported package" not in line
        }
    )


def parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark script shares; scripts add their own."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--iterations", type=int, default=5, help="counted runs per side (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="uncounted runs per side first (default 1)")
    p.add_argument("--only-ours", action="store_true", help="skip the references (no virtualenvs needed)")
    p.add_argument("--json", type=Path, help="also write samples and summaries as JSON to this file")
    p.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed (after printing)")
    return p


def check_args(args: argparse.Namespace) -> None:
    if args.iterations < 1:
        raise SystemExit("--iterations must be at least 1")
    if args.warmup < 0:
        raise SystemExit("--warmup must be 0 or more")


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit (children inherit it); return it.

    Thousands of concurrent connections need thousands of descriptors, and many systems start processes with
    a soft limit of 1,024.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def parse_sizes(text: str) -> list[int]:
    """A comma-separated list of positive counts (``--runs 200,10000``), in the order given."""
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise SystemExit(f"expected comma-separated counts, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise SystemExit(f"every count must be at least 1, got {text!r}")
    return sizes


def percentile(values: list[float], q: float) -> float:
    """The value at quantile ``q`` (0.99 for p99) of ``values``: the nearest rank, no interpolation."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------
# Running sides alternately

Sample = dict[str, float]


def alternate(
    sides: Sequence[Side],
    run_once: Callable[[Side], Sample],
    *,
    iterations: int,
    warmup: int,
    label: str = "",
) -> dict[str, list[Sample]]:
    """Run ``run_once`` for every side, ``warmup + iterations`` times, rotating which side goes first.

    Returns the counted samples per side name. A sample maps metric names to values.
    """
    samples: dict[str, list[Sample]] = {side.name: [] for side in sides}
    for i in range(warmup + iterations):
        order = [sides[(i + k) % len(sides)] for k in range(len(sides))]
        for side in order:
            sample = run_once(side)
            counted = i >= warmup
            if counted:
                samples[side.name].append(sample)
            shown = ", ".join(f"{k}={v:.4g}" for k, v in sample.items())
            log(f"{label} {side.name} {'run' if counted else 'warm-up'} {i + 1}: {shown}")
    return samples


# ---------------------------------------------------------------------------------------------------------
# Results


@dataclass
class Row:
    """One line of a results table: one metric of one case, one side."""

    case: str
    metric: str
    unit: str
    side: str
    values: list[float]
    ours: bool

    @property
    def median(self) -> float:
        return statistics.median(self.values)


@dataclass
class Target:
    """A goal stated in the issue, checked against the table."""

    description: str
    met: bool
    detail: str


@dataclass
class Report:
    """Everything one script measured: rows, targets, notes, and the raw samples."""

    title: str
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def add(
        self,
        case: str,
        metric: str,
        unit: str,
        side: Side | str,
        values: Sequence[float],
        *,
        ours: bool | None = None,
    ) -> Row:
        name = side.name if isinstance(side, Side) else side
        is_ours = side.ours if isinstance(side, Side) else bool(ours)
        row = Row(case, metric, unit, name, list(values), is_ours)
        self.rows.append(row)
        return row

    def add_samples(
        self,
        case: str,
        sides: Sequence[Side],
        samples: Mapping[str, list[Sample]],
        metrics: Mapping[str, str],
    ) -> None:
        """Add one row per (metric, side) from ``alternate``'s output; ``metrics`` maps metric to unit."""
        for metric, unit in metrics.items():
            for side in sides:
                values = [s[metric] for s in samples[side.name] if metric in s]
                if values:
                    self.add(case, metric, unit, side, values)
        self.raw.setdefault(case, {}).update({name: list(s) for name, s in samples.items()})

    def median(self, case: str, metric: str, side: str) -> float | None:
        for row in self.rows:
            if (row.case, row.metric, row.side) == (case, metric, side):
                return row.median
        return None

    def target(self, description: str, met: bool, detail: str) -> None:
        self.targets.append(Target(description, met, detail))

    def ratio_target(
        self, description: str, case: str, metric: str, ours: str, other: str, at_most: float
    ) -> None:
        """Record whether median(ours) / median(other) <= ``at_most``, if both were measured."""
        a, b = self.median(case, metric, ours), self.median(case, metric, other)
        if a is None or b is None or b == 0:
            return
        ratio = a / b
        self.target(description, ratio <= at_most, f"{ratio:.2f}x (needs <= {at_most:g}x)")

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines += [
            "| case | metric | side | min | median | max | ratio (ours / this) |",
            "|---|---|---|---:|---:|---:|---:|",
        ]
        for row in self.rows:
            ours_median = self._ours_median(row)
            ratio = ""
            if not row.ours and ours_median is not None and row.median:
                ratio = f"{ours_median / row.median:.2f}x"
            lines.append(
                f"| {row.case} | {row.metric} | {row.side} | {_fmt(min(row.values), row.unit)} | "
                f"{_fmt(row.median, row.unit)} | {_fmt(max(row.values), row.unit)} | {ratio} |"
            )
        n = {len(row.values) for row in self.rows}
        lines.append("")
        lines.append(f"Counted runs per side: {', '.join(str(x) for x in sorted(n))}.")
        if self.targets:
            lines += ["", "| target | met | measured |", "|---|---|---|"]
            for t in self.targets:
                lines.append(f"| {t.description} | {'yes' if t.met else '**no**'} | {t.detail} |")
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def _ours_median(self, row: Row) -> float | None:
        for other in self.rows:
            if other.ours and (other.case, other.metric) == (row.case, row.metric):
                return other.median
        return None

    def emit(self, args: argparse.Namespace) -> None:
        """Print the table and write the optional JSON and Markdown files."""
        text = self.markdown()
        print(text)
        if args.markdown:
            args.markdown.write_text(text)
        if args.json:
            payload = {
                "title": self.title,
                "machine": machine(),
                "rows": [
                    {
                        "case": r.case,
                        "metric": r.metric,
                        "unit": r.unit,
                        "side": r.side,
                        "ours": r.ours,
                        "min": min(r.values),
                        "median": r.median,
                        "max": max(r.values),
                        "values": r.values,
                    }
                    for r in self.rows
                ],
                "targets": [t.__dict__ for t in self.targets],
                "notes": self.notes,
                "raw": self.raw,
            }
            args.json.write_text(json.dumps(payload, indent=2))
        missed = [t.description for t in self.targets if not t.met]
        if args.check and missed:
            raise SystemExit("missed: " + "; ".join(missed))


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "count":
        return f"{value:.0f}"
    return f"{value:.4g} {unit}".strip()


def machine() -> dict[str, Any]:
    """What the numbers depend on: cores, CPU model, Python, OS, date, commit."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "commit": commit,
    }
