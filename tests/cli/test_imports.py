"""rich is loaded by the terminal commands, never by ``import render_sdk`` or a worker process.

(httpx imports rich, with click and pygments, for its own command line whenever all three are installed, so
any process that loads httpx loads rich too; workers load no httpx.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import cli_env


def modules_after(statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize(
    "statement",
    [
        "import render_sdk",
        "import render_sdk._cli",
        "import render_sdk.workflows._run_mode",
        "import render_sdk.workflows._register",
    ],
)
def test_rich_stays_out(statement: str) -> None:
    assert "rich" not in modules_after(statement)


def test_the_commands_draw_with_rich() -> None:
    assert "rich" in modules_after("import render_sdk._commands.runs")
