"""``render-workflows init``, then the new project's README's two commands, in the new project."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import launch

from .conftest import CONSOLE_SCRIPT, cli

FILES = [
    "README.md",
    ".gitignore",
    "workflows/main.py",
    "workflows/math_tasks.py",
    "workflows/test_math_tasks.py",
]


def readme_commands(project: Path) -> list[list[str]]:
    """The README's fenced ``sh`` commands, as written."""
    blocks = re.findall(r"```sh\n(.*?)```", (project / "README.md").read_text(), flags=re.DOTALL)
    return [block.strip().split() for block in blocks]


def installed(command: list[str]) -> list[str]:
    """``command`` with ``python`` and ``render-workflows`` meaning this environment's."""
    names = {"python": sys.executable, "render-workflows": str(CONSOLE_SCRIPT)}
    return [names.get(word, word) for word in command]


def test_init_then_the_readme_commands_work(tmp_path: Path) -> None:
    project = tmp_path / "my-workflow"
    created = cli("init", str(project), "--json", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout) == {"directory": str(project), "files": FILES}
    assert ".render/" in (project / ".gitignore").read_text().splitlines()
    assert (project / "README.md").read_text().startswith("# my-workflow\n")

    test_command, dev_command = readme_commands(project)
    assert test_command == ["python", "-m", "pytest", "workflows"]
    assert dev_command == ["render-workflows", "dev", "--", "python", "workflows/main.py"]

    # The unit tests pass with the installed render_sdk, from the project alone (not this repository's path,
    # nor the pytest plugins of this repository's test environment: a new project's environment has none).
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "PYTHONPATH" and not key.startswith(("RENDER_", "PYTEST_"))
    }
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    tests = subprocess.run(
        installed(test_command), cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout

    # The dev command serves the project's tasks (on a free port rather than 8120, which may be taken).
    dev = installed(dev_command)
    server = launch([*dev[:2], "--port", "0", *dev[2:]], project, env)
    try:
        assert any(line.endswith("square, add_squares, fan_out") for line in server.output), server.output
        followed = cli("run", "fan_out", "3", "--follow", "--json", "--url", server.url, cwd=project)
        assert followed.returncode == 0, followed.stderr
        finished = json.loads(followed.stdout)
        assert finished["results"] == [[0, 1, 4]]
        assert [child["taskName"] for child in finished["subtasks"]] == ["square"] * 3
    finally:
        assert server.stop() == 0
    assert (project / ".render" / "local-runtime.sqlite3").is_file()


def test_init_in_the_current_directory_says_what_next(tmp_path: Path) -> None:
    created = cli("init", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith(f"Created the workflow project {tmp_path.name} in .:\n")
    assert "`python -m pytest workflows`" in created.stdout
    assert "`render-workflows dev -- python workflows/main.py`" in created.stdout
    assert sorted(
        str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file()
    ) == sorted(FILES)


def test_init_never_overwrites_a_file(tmp_path: Path) -> None:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "main.py").write_text("mine\n")
    refused = cli("init", str(tmp_path))
    assert refused.returncode == 1
    assert refused.stderr == (
        f"render-workflows init: error: {tmp_path} already has workflows/main.py; "
        "nothing was written (init never overwrites a file)\n"
    )
    assert (tmp_path / "workflows" / "main.py").read_text() == "mine\n"
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["main.py", "workflows"]
