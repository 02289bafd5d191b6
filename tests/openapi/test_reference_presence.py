"""Without the reference OpenAPI document the conformance test skips with a one-line reason, unless CI is set.

The conformance module runs in a child pytest with ``RENDER_SDK_OPENAPI_REFERENCE`` pointing at a file that
does not exist, as in a fresh clone that has no ``../shared/`` beside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFORMANCE = Path(__file__).with_name("test_conformance.py")
# The child needs none of the suite's heavier plugins (schemathesis alone imports hypothesis and more: about
# 2 s of CPU per child), and runs in one process (no xdist workers).
LEAN_PYTEST = [
    "-n0",
    *(f"-pno:{name}" for name in ("cacheprovider", "schemathesis", "hypothesispytest")),
]


def run_conformance(reference: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env["RENDER_SDK_OPENAPI_REFERENCE"] = str(reference)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", *LEAN_PYTEST, str(CONFORMANCE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_reference_skips_with_one_line_reason(tmp_path: Path) -> None:
    missing = tmp_path / "shared" / "reference" / "render-public-api.openapi.json"
    result = run_conformance(missing, ci=None)
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    reason = f"reference OpenAPI document not found at {missing} (set RENDER_SDK_OPENAPI_REFERENCE)"
    assert skipped and all(line.endswith(f": {reason}") for line in skipped), result.stdout
    assert "9 skipped" in result.stdout and "failed" not in result.stdout and "error" not in result.stdout


@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_reference_fails_under_ci(tmp_path: Path, ci: str) -> None:
    missing = tmp_path / "absent.json"
    result = run_conformance(missing, ci=ci)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CI is set, so the conformance test must run" in result.stdout


def test_ci_false_means_not_ci(tmp_path: Path) -> None:
    result = run_conformance(tmp_path / "absent.json", ci="false")
    assert result.returncode == 0, result.stdout + result.stderr
