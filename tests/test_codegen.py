"""generated/ is exactly what codegen.py makes from openapi/, and it runs on the oldest supported Python."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_generated_code_matches_specs() -> None:
    result = subprocess.run(
        [sys.executable, "codegen.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=110
    )
    assert result.returncode == 0, result.stdout + result.stderr


def find_python_310() -> str | None:
    candidates = sorted(Path.home().glob(".pyenv/versions/3.10.*/bin/python3"))
    return str(candidates[-1]) if candidates else shutil.which("python3.10")


def test_generated_code_imports_on_python_310() -> None:
    python310 = find_python_310()
    if python310 is None:
        if sys.version_info[:2] == (3, 10):
            python310 = sys.executable
        else:
            pytest.fail("no Python 3.10 interpreter found (pyenv 3.10.x or python3.10 on PATH)")
    # The generated REST client needs httpx and attrs; borrow them from this interpreter's site-packages
    # (pure-Python packages) so the check needs no second install.
    site_packages = next(path for path in sys.path if path.endswith("site-packages"))
    code = (
        "import sys, pkgutil, importlib\n"
        f"sys.path[:0] = [{str(ROOT / 'generated')!r}, {site_packages!r}]\n"
        "import render_sdk_public_api, render_sdk_callback_api.models\n"
        "for module in pkgutil.walk_packages(render_sdk_public_api.__path__, 'render_sdk_public_api.'):\n"
        "    importlib.import_module(module.name)\n"
        "print(sys.version_info[:2])\n"
    )
    result = subprocess.run([python310, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(3, 10)"
