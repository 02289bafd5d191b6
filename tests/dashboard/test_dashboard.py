"""The dashboard in a real headless Chromium against a real dev server: what users see, what clicks do."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LocalRuntimeProcess
from playwright.sync_api import expect

from .conftest import Dashboard

pytestmark = pytest.mark.slow(seconds=14)

LIVE_TIMEOUT_MS = 15_000


def start(server: LocalRuntimeProcess, task: str, input_value: Any) -> str:
    response = httpx.post(f"{server.url}/v1/task-runs", json={"task": f"wf/{task}", "input": input_value})
    assert response.status_code == 202, response.text
    run_id: str = response.json()["id"]
    return run_id


def tree_nodes(page: Any) -> Any:
    return page.get_by_role("button").filter(has=page.locator(".status"))


def node(page: Any, run_id: str) -> Any:
    return page.locator(f'[role=button][data-run-id="{run_id}"]')


def test_fan_out_appears_and_its_tree_fills_in_live(
    dashboard: Dashboard, server: LocalRuntimeProcess, tmp_path: Path
) -> None:
    page = dashboard.open("/")
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    page.evaluate("window.loadedOnce = true")  # gone if anything reloads the page

    gate = tmp_path / "gate"
    run_id = start(server, "fan_out", [4, str(gate)])
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    expect(row).to_contain_text("fan_out", timeout=LIVE_TIMEOUT_MS)
    expect(row.locator(".status")).to_have_text(re.compile("pending|running"))

    row.get_by_role("link", name="fan_out").click()
    expect(page.get_by_role("heading", name="fan_out").first).to_be_visible()
    nodes = tree_nodes(page)
    # The four leaves start, and wait for the gate: the tree shows them running.
    expect(nodes).to_have_count(5, timeout=LIVE_TIMEOUT_MS)
    for index in range(5):
        expect(nodes.nth(index).locator(".status")).to_have_text("running", timeout=LIVE_TIMEOUT_MS)
    gate.touch()
    # Each leaf then starts a subtask of its own: the tree grows to 9 nodes, all completing.
    expect(node(page, run_id).locator(".status")).to_have_text("completed", timeout=LIVE_TIMEOUT_MS)
    expect(nodes).to_have_count(9)
    for index in range(9):
        expect(nodes.nth(index).locator(".status")).to_have_text("completed")
    expect(page.get_by_text("[\n  0,\n  1,\n  4,\n  9\n]")).to_be_visible()  # the result, formatted
    expect(page.locator(".lane .seg-completed")).to_have_count(9)  # one bar per attempt on the timeline
    dashboard.screenshot("run")

    page.get_by_role("link", name="← All runs").click()
    expect(row.locator(".status")).to_have_text("completed")
    assert page.evaluate("window.loadedOnce") is True


def test_failed_run_shows_each_attempt_error_and_stack_trace(
    dashboard: Dashboard, server: LocalRuntimeProcess
) -> None:
    run_id = start(server, "load_config", ["no equals sign"])
    page = dashboard.open(f"/runs/{run_id}")
    expect(page.locator(".page-head .status")).to_have_text("failed", timeout=LIVE_TIMEOUT_MS)
    attempts = page.locator(".attempt")
    expect(attempts).to_have_count(2)
    for index in range(2):
        trace = attempts.nth(index).locator("pre")
        expect(trace).to_contain_text("ValueError: config line 'no equals sign' has no '='")
        expect(trace).to_contain_text("Traceback (most recent call last)")
        expect(trace).to_contain_text("in parse_config")
    # The timeline shows the retry wait (300 ms) between the two failed attempts.
    expect(page.locator('[title^="retry wait before attempt 2"]')).to_have_count(1)
    expect(page.locator(".lane .seg-failed")).to_have_count(2)
    expect(page.get_by_role("button", name="Cancel run")).to_be_disabled()
    dashboard.screenshot("failed-run")


def test_logs_follow_a_running_run(dashboard: Dashboard, server: LocalRuntimeProcess, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    run_id = start(server, "chatty", [10, str(gate)])
    page = dashboard.open(f"/runs/{run_id}")
    logs = page.locator("#logs")
    # The run prints five lines, then waits for the gate: the page shows them while it runs.
    expect(logs).to_contain_text("step 5 of 10", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator(".page-head .status")).to_have_text("running")
    assert "step 6 of 10" not in logs.inner_text()
    gate.touch()
    expect(logs).to_contain_text("step 10 of 10", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator(".page-head .status")).to_have_text("completed", timeout=LIVE_TIMEOUT_MS)
    lines = [line for line in logs.inner_text().splitlines() if "step " in line]
    assert [re.search(r"step (\d+) of 10", line).group(1) for line in lines] == [  # type: ignore[union-attr]
        str(n) for n in range(1, 11)
    ], "each line once, in order"


def test_cancel_button_cancels_the_whole_running_tree(
    dashboard: Dashboard, server: LocalRuntimeProcess
) -> None:
    run_id = start(server, "hold_tree", [3])
    page = dashboard.open(f"/runs/{run_id}")
    nodes = tree_nodes(page)
    expect(nodes).to_have_count(4, timeout=LIVE_TIMEOUT_MS)
    for index in range(4):
        expect(nodes.nth(index).locator(".status")).to_have_text("running", timeout=LIVE_TIMEOUT_MS)

    page.get_by_role("button", name="Cancel run and 3 subtasks").click()
    for index in range(4):
        expect(nodes.nth(index).locator(".status")).to_have_text("canceled", timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_role("button", name=re.compile("^Cancel run"))).to_be_disabled()
    statuses = {
        item["taskRun"]["status"]
        for item in httpx.get(f"{server.url}/v1/task-runs", params={"rootTaskRunId": run_id}).json()
    }
    assert statuses == {"canceled"}


def test_start_a_task_from_the_form(dashboard: Dashboard) -> None:
    page = dashboard.open("/tasks")
    card = page.locator("section.task").filter(has_text="greet(name: str")
    expect(card).to_contain_text("2 m 00 s")  # its timeout
    expect(card).to_contain_text("starter")  # its plan
    expect(page.locator("section.task").filter(has_text="load_config")).to_contain_text(
        "1 retry, waiting 300 ms"
    )
    field = card.get_by_role("textbox")
    run_button = card.get_by_role("button", name="Run task")
    dashboard.screenshot("tasks")

    field.fill('{"name": 5}')
    run_button.click()
    expect(card.get_by_role("alert")).to_contain_text("Argument name must be a string (str), got number 5")
    field.fill("[")
    run_button.click()
    expect(card.get_by_role("alert")).to_contain_text("Input is not valid JSON")
    field.fill('["Ada", "?", "extra"]')
    run_button.click()
    expect(card.get_by_role("alert")).to_contain_text("takes 2 arguments, but the input has 3")
    assert not [request for request in dashboard.requests if request[0] == "POST"], "invalid input was sent"

    field.fill('["Ada"]')
    run_button.click()
    expect(page.locator(".page-head .status")).to_have_text("completed", timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_text('"Hello, Ada!"')).to_be_visible()
    posts = [request for request in dashboard.requests if request[0] == "POST"]
    assert len(posts) == 1

    page.get_by_role("button", name="Run again").click()
    expect(page.locator(".page-head .status")).to_have_text("completed", timeout=LIVE_TIMEOUT_MS)
    assert len([request for request in dashboard.requests if request[0] == "POST"]) == 2


def test_every_page_asks_only_its_own_origin(dashboard: Dashboard, server: LocalRuntimeProcess) -> None:
    page = dashboard.open("/")
    expect(page.get_by_role("cell", name="fan_out").first).to_be_visible()
    dashboard.screenshot("runs")
    for fragment in ("/tasks", f"/runs/{start(server, 'square', [3])}", "/?status=failed"):
        page.goto(f"{server.url}/#{fragment}")
        page.wait_for_load_state("networkidle")
    own = [url for _, url in dashboard.requests if url.startswith(server.url)]
    assert any(url.endswith("/assets/app.js") for url in own)
    assert any("/v1/task-runs" in url for url in own)
    assert dashboard.foreign_requests() == []
    # The page's Content-Security-Policy would stop a request elsewhere even if the code tried.
    policy = httpx.get(f"{server.url}/").headers["content-security-policy"]
    assert "connect-src 'self'" in policy and "default-src 'none'" in policy
