"""Waiting on conditions and inspecting processes in the local runtime's end-to-end tests."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx

from render_sdk.local.attempts.processes import proc_stat

HTTP = httpx.Client(timeout=30)
"""The tests' HTTP client: one for all, since each ``httpx.get`` builds a client (~60 ms of CPU) and polling
with it would take a core from the servers under test. Closed at the end of the session (``conftest.py``)."""


def wait_until(condition: Any, timeout: float = 30.0, message: str = "condition") -> Any:
    """Poll ``condition()`` until it returns something truthy, and return that; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{message} not met within {timeout} s")


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    stat = proc_stat(pid)
    return stat is not None and stat.running


def parent_of(pid: int) -> int:
    """The parent pid of ``pid``."""
    stat = proc_stat(pid)
    assert stat is not None, f"no process {pid}"
    return stat.ppid


def peak_concurrency(log_path: Path) -> int:
    """The most processes alive at once, from a log of ``start|stop PID MOMENT`` lines."""
    events = []
    for line in log_path.read_text().splitlines():
        kind, _pid, moment = line.split()
        events.append((float(moment), 1 if kind == "start" else -1))
    running = peak = 0
    for _, change in sorted(events):
        running += change
        peak = max(peak, running)
    return peak


def zygote_pid(server: Any) -> int:
    """The prefork zygote's pid, from the server's banner line (fails when prefork is off)."""
    line = server.wait_for_output("Prefork:")
    match = re.search(r"Prefork:\s+on: .*\(pid (\d+)\)", line)
    assert match, f"prefork is not on: {line}"
    return int(match.group(1))
