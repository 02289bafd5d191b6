"""tasks, run, runs and logs through the real console script, against one real ``render-workflows dev``."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import socket
import subprocess
from typing import Any

import httpx
import pytest

from render_sdk._version import __version__
from tests.conftest import LocalRuntimeProcess
from tests.local.processes import wait_until

from .conftest import CONSOLE_SCRIPT, WORKERS, cli, cli_env, cli_json, spawn_cli

pytestmark = pytest.mark.slow(seconds=26)

COMMANDS = ["tasks", "run", "runs", "runs list", "runs show", "runs cancel", "logs", "init", "dev"]


def nodes(tree: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of a ``--json`` tree, depth first."""
    return [tree, *(node for child in tree["subtasks"] for node in nodes(child))]


def latest_run(server: LocalRuntimeProcess, task: str, status: str) -> dict[str, Any] | None:
    """The newest run of ``task`` in ``status``, read from the REST API: tests poll this, and a console-script
    process per poll would cost far more than what it checks (``runs list`` has tests of its own)."""
    runs = httpx.get(
        f"{server.url}/v1/task-runs", params={"taskId": f"workers/{task}", "status": status, "limit": 1}
    ).json()
    assert isinstance(runs, list), runs
    return runs[0]["taskRun"] if runs else None


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_version(command: str) -> None:
    helped = cli(*command.split(), "--help")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith(f"usage: render-workflows {command}")
    if command not in ("runs", "init", "dev"):
        assert "--url" in helped.stdout
        assert "--json" in helped.stdout
    versioned = cli(*command.split(), "--version")
    assert versioned.returncode == 0, versioned.stderr
    assert versioned.stdout == f"render-workflows {__version__}\n"


def test_the_command_list_names_every_command() -> None:
    listed = cli("--help")
    for command in ("tasks", "run", "runs", "logs", "init", "dev"):
        assert f"\n  {command} " in listed.stdout


def test_tasks(server: LocalRuntimeProcess) -> None:
    tasks = cli_json("tasks", "--url", server.url)
    assert [task["name"] for task in tasks] == [
        "square", "fan_out", "tree", "fails", "sleeps", "waits_on_child", "chatty"
    ]  # fmt: skip
    assert {task["slug"] for task in tasks} == {f"workers/{task['name']}" for task in tasks}
    assert all(task["id"].startswith("tsk-") for task in tasks)
    table = cli("tasks", "--url", server.url)
    assert table.returncode == 0, table.stderr
    assert "workers/chatty" in table.stdout


def test_tasks_show_the_definition_the_server_documents(server: LocalRuntimeProcess) -> None:
    served = httpx.get(f"{server.url}/v1/tasks").json()
    if "parameters" not in served[0]["task"]:
        pytest.skip("this local runtime does not serve task definitions (openapi/local-runtime.yaml) yet")
    chatty = next(task for task in cli_json("tasks", "--url", server.url) if task["name"] == "chatty")
    assert [parameter["name"] for parameter in chatty["parameters"]] == ["lines", "pause", "gate"]
    assert chatty["retry"]["maxRetries"] == 2
    assert (chatty["timeoutSeconds"], chatty["plan"]) == (120, "starter")
    table = cli("tasks", "--url", server.url).stdout
    row = next(line for line in table.splitlines() if "workers/chatty" in line)
    assert 'lines: int, pause: float = 0.0, gate: str = ""' in row
    assert "120s" in row and "starter" in row


def test_the_url_defaults_to_the_environment(server: LocalRuntimeProcess) -> None:
    result = cli("tasks", "--json", env=cli_env(RENDER_LOCAL_DEV_URL=server.url))
    assert result.returncode == 0, result.stderr
    assert "square" in [task["name"] for task in json.loads(result.stdout)]


def test_run_starts_a_run_and_names_it(server: LocalRuntimeProcess) -> None:
    started = cli_json("run", "square", "7", "--url", server.url)
    assert started["id"].startswith("trn-")
    assert started["taskName"] == "square"
    assert started["status"] in ("pending", "running")
    said = cli("run", "workers/square", "--input", "[8]", "--url", server.url)
    assert said.returncode == 0, said.stderr
    assert said.stdout.startswith("Started trn-")


def test_run_follow_shows_the_tree_and_exits_0_when_completed(server: LocalRuntimeProcess) -> None:
    finished = cli_json("run", "tree", "2", "--follow", "--url", server.url)
    assert finished["status"] == "completed"
    assert finished["results"] == [[[0, 1], [0, 1]]]
    assert [child["taskName"] for child in finished["subtasks"]] == ["fan_out", "fan_out"]
    assert [[leaf["taskName"] for leaf in child["subtasks"]] for child in finished["subtasks"]] == [
        ["square", "square"],
        ["square", "square"],
    ]
    assert {node["status"] for node in nodes(finished)} == {"completed"}
    assert all(node["durationSeconds"] > 0 for node in nodes(finished))

    shown = cli("run", "fan_out", "3", "--follow", "--url", server.url)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    # One line per status change, subtasks indented under their parent, then the result.
    assert lines[0].startswith("fan_out trn-")
    assert sum(line.startswith("  square trn-") and " completed " in line for line in lines) == 3
    assert "result   [0, 1, 4]" in lines


def test_run_follow_exits_1_with_the_error_when_failed(server: LocalRuntimeProcess) -> None:
    failed = cli("run", "fails", '"on purpose"', "--follow", "--url", server.url)
    assert failed.returncode == 1, failed.stderr
    assert "status   failed" in failed.stdout
    assert "ValueError: on purpose" in failed.stdout
    assert "Traceback (most recent call last)" in failed.stdout
    as_json = cli("run", "fails", '"again"', "--follow", "--json", "--url", server.url)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["error"].splitlines()[-1] == "ValueError: again"


def test_run_follow_exits_2_when_canceled_and_cancel_reaches_the_subtree(server: LocalRuntimeProcess) -> None:
    with spawn_cli("run", "waits_on_child", "60", "--follow", "--json", "--url", server.url) as follower:
        child = wait_until(lambda: latest_run(server, "sleeps", "running"), message="the subtask running")
        canceled = cli_json("runs", "cancel", child["rootTaskRunId"], "--url", server.url)
        assert canceled == {"id": child["rootTaskRunId"], "status": "canceled"}
        out, err = follower.communicate(timeout=60)
    assert follower.returncode == 2, err
    followed = json.loads(out)
    assert followed["id"] == child["rootTaskRunId"]
    assert [node["status"] for node in nodes(followed)] == ["canceled", "canceled"]
    assert followed["subtasks"][0]["id"] == child["id"]


def test_runs_list_filters_by_task_and_status_and_limits(server: LocalRuntimeProcess) -> None:
    cli_json("run", "fan_out", "2", "--follow", "--url", server.url)
    cli_json("run", "fails", '"listed"', "--follow", "--url", server.url, expect=1)
    squares = cli_json("runs", "list", "--task", "square", "--limit", "3", "--url", server.url)
    assert len(squares) == 3
    assert {run["taskName"] for run in squares} == {"square"}
    failed = cli_json("runs", "list", "--status", "failed", "--url", server.url)
    assert failed and {run["status"] for run in failed} == {"failed"}
    assert {run["taskName"] for run in failed} == {"fails"}
    newest = cli_json("runs", "list", "--limit", "2", "--url", server.url)
    assert len(newest) == 2
    assert newest[0]["startedAt"] >= newest[1]["startedAt"]
    table = cli("runs", "list", "--limit", "5", "--url", server.url)
    assert table.returncode == 0, table.stderr
    assert table.stdout.split()[:6] == ["RUN", "TASK", "STATUS", "STARTED", "DURATION", "ATTEMPTS"]
    assert newest[0]["id"] in table.stdout


def test_runs_show_gives_details_and_the_tree(server: LocalRuntimeProcess) -> None:
    root = cli_json("run", "tree", "1", "--follow", "--url", server.url)
    shown = cli_json("runs", "show", root["id"], "--url", server.url)
    assert shown["input"] == [1]
    assert shown["results"] == [[[0, 1]]]
    assert [node["taskName"] for node in nodes(shown)] == ["tree", "fan_out", "square", "square"]
    middle = root["subtasks"][0]["id"]
    subtree = cli_json("runs", "show", middle, "--url", server.url)
    assert subtree["parentTaskRunId"] == root["id"]
    assert [node["taskName"] for node in nodes(subtree)] == ["fan_out", "square", "square"]
    drawn = cli("runs", "show", root["id"], "--url", server.url)
    assert drawn.returncode == 0, drawn.stderr
    assert "result   [[0, 1]]" in drawn.stdout
    tree_lines = [line for line in drawn.stdout.splitlines() if "trn-" in line and "completed" in line]
    assert [line.split("completed")[0].strip(" │├└─") for line in tree_lines] == [
        "tree", "fan_out", "square", "square"
    ]  # fmt: skip


def test_logs_follow_prints_lines_while_the_run_writes_them(
    server: LocalRuntimeProcess, tmp_path: Any
) -> None:
    gate = tmp_path / "gate"
    started = cli_json("run", "chatty", "3", "0.2", json.dumps(str(gate)), "--url", server.url)
    with spawn_cli("logs", started["id"], "--follow", "--json", "--url", server.url) as follower:
        assert follower.stdout is not None
        first = json.loads(follower.stdout.readline())
        # The run waits for the gate after its first line: that line came while it ran, not after it ended.
        status = httpx.get(f"{server.url}/v1/task-runs/{started['id']}").json()["status"]
        gate.touch()
        rest = [json.loads(line) for line in follower.stdout]
        follower.wait(timeout=60)
    assert first["message"] == "line 1 of 3"
    assert status == "running"
    assert follower.returncode == 0
    messages = [first["message"], *(line["message"] for line in rest)]
    assert messages == ["line 1 of 3", "line 2 of 3", "line 3 of 3", "done"]  # each once, in order
    assert [line["stream"] for line in rest] == ["stdout", "stdout", "stderr"]

    printed = cli("logs", started["id"], "--url", server.url)
    assert printed.returncode == 0, printed.stderr
    assert [line.split("  ", 3)[3] for line in printed.stdout.splitlines()] == messages


def test_logs_without_a_server_read_the_store(tmp_path: Any) -> None:
    missing = cli("logs", "trn-abc", "--db", str(tmp_path / "none.sqlite3"))
    assert missing.returncode == 1
    assert missing.stderr == f"render-workflows logs: error: no store at {tmp_path / 'none.sqlite3'}\n"


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["runs", "show", "trn-doesnotexist"], 1, "task run trn-doesnotexist not found"),
        (["runs", "cancel", "trn-doesnotexist"], 1, "task run trn-doesnotexist not found"),
        (["logs", "trn-doesnotexist"], 1, "task run(s) not found: trn-doesnotexist"),
        (["run", "square", "seven"], 2, "argument 1 'seven' is not JSON"),
        (["run", "square", "--input", "3"], 2, "--input must be a JSON array or object, got int"),
        (["run", "cube", "3"], 1, "no task named 'cube' (registered tasks: square, fan_out, tree"),
        (["run", "square", "1", "2"], 1, "square(a) takes 1 argument(s), but input has 2"),
        (["runs", "list", "--task", "cube"], 1, "no task named 'cube'"),
    ],
)
def test_errors_are_one_line(server: LocalRuntimeProcess, args: list[str], status: int, message: str) -> None:
    result = cli(*args, "--url", server.url)
    assert result.returncode == status, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("render-workflows ")
    assert message in result.stderr


def test_canceling_a_finished_run_says_why(server: LocalRuntimeProcess) -> None:
    finished = cli_json("run", "square", "2", "--follow", "--url", server.url)
    result = cli("runs", "cancel", finished["id"], "--url", server.url)
    assert result.returncode == 1
    assert "is already completed" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args", [["tasks"], ["runs", "list"], ["run", "square", "1", "--follow"], ["logs", "trn-x"]]
)
def test_a_server_that_is_not_running_is_one_line(args: list[str]) -> None:
    url = closed_port_url()
    result = cli(*args, "--url", url, timeout=20)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"cannot reach {url}" in result.stderr
    assert "is `render-workflows dev` running there?" in result.stderr


def test_run_follow_draws_live_on_a_terminal(server: LocalRuntimeProcess) -> None:
    controller, terminal = pty.openpty()
    try:
        with subprocess.Popen(
            [str(CONSOLE_SCRIPT), "run", "fan_out", "2", "--follow", "--url", server.url],
            cwd=WORKERS,
            env=cli_env(COLUMNS="120", TERM="xterm-256color"),
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=terminal,
        ) as follower:
            os.close(terminal)
            drawn = b""
            while True:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: the command exited and closed the terminal
                    break
                if not chunk:
                    break
                drawn += chunk
            assert follower.wait(timeout=60) == 0
    finally:
        os.close(controller)
    text = drawn.decode()
    assert "\x1b[" in text  # drawn with colors and cursor moves, not printed line by line
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert "└── square  completed" in plain
    assert "result   [0, 1]" in plain


def test_interrupting_run_follow_leaves_the_run_going(server: LocalRuntimeProcess) -> None:
    with spawn_cli("run", "sleeps", "30", "--follow", "--url", server.url) as follower:
        running = wait_until(lambda: latest_run(server, "sleeps", "running"), message="the run running")
        assert follower.stdout is not None
        wait_until(lambda: running["id"] in follower.stdout.readline(), message="the follower drawing it")
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=30)
    assert follower.returncode == 130
    assert f"Stopped following {running['id']}; the run goes on" in err
    assert "Traceback" not in err
    assert cli_json("runs", "show", running["id"], "--url", server.url)["status"] == "running"
    cli_json("runs", "cancel", running["id"], "--url", server.url)
