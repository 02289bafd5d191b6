"""What a web page, or a name that resolves to 127.0.0.1, can do to ``render-workflows dev``: nothing.

Against the real server: a cross-origin ``text/plain`` POST (what any page can send without a preflight) and a
foreign ``Host`` (DNS rebinding) are refused and create no run; ``--allowed-host`` lets a chosen name in; the
SDK clients, which send neither an Origin nor a foreign Host, still work. Results are stored once.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import httpx

from render_sdk import RenderSync

WORKERS = Path(__file__).resolve().parent / "workers"
WORKER = [sys.executable, "main.py"]
RUN = b'{"task": "wf/square", "input": [3]}'


def run_count(url: str) -> int:
    return len(httpx.get(f"{url}/v1/task-runs").json())


def test_a_web_page_cannot_start_or_cancel_runs(start_local_runtime: Any) -> None:
    server = start_local_runtime(WORKER, cwd=WORKERS, args=["--no-watch"])
    page = {"Origin": "https://evil.example", "Content-Type": "text/plain"}
    response = httpx.post(f"{server.url}/v1/task-runs", content=RUN, headers=page)
    assert response.status_code == 403, response.text
    assert "from a web page at https://evil.example is refused" in response.json()["message"]
    # Without an Origin (a form or a non-browser), text/plain is still refused.
    plain = httpx.post(f"{server.url}/v1/task-runs", content=RUN, headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415 and "application/json" in plain.json()["message"]
    with RenderSync(base_url=server.url) as render:
        finished = render.workflows.run_task("wf/square", [5]).wait()
    assert finished.results == [25]
    cancel = httpx.delete(
        f"{server.url}/v1/task-runs/{finished.id}", headers={"Origin": "http://evil.example"}
    )
    assert cancel.status_code == 403
    assert run_count(server.url) == 1


def test_dns_rebinding_is_refused_unless_the_name_is_allowed(start_local_runtime: Any) -> None:
    server = start_local_runtime(WORKER, cwd=WORKERS, args=["--no-watch", "--allowed-host", "devbox.test"])
    port = server.url.rsplit(":", 1)[1]
    headers = {"Content-Type": "application/json"}
    rebound = httpx.post(
        f"{server.url}/v1/task-runs", content=RUN, headers={**headers, "Host": f"attacker.example:{port}"}
    )
    assert rebound.status_code == 403
    assert "Host 'attacker.example:" in rebound.json()["message"]
    assert "--allowed-host attacker.example" in rebound.json()["message"]
    listing = httpx.get(f"{server.url}/v1/task-runs", headers={"Host": f"attacker.example:{port}"})
    assert listing.status_code == 403  # a rebound page cannot read runs either
    allowed = httpx.get(f"{server.url}/v1/tasks", headers={"Host": f"devbox.test:{port}"})
    assert allowed.status_code == 200
    same_origin = httpx.post(
        f"{server.url}/v1/task-runs",
        content=RUN,
        headers={**headers, "Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"},
    )
    assert same_origin.status_code == 202, same_origin.text
    assert run_count(server.url) == 1


def test_a_result_is_stored_once(start_local_runtime: Any, tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite3"
    server = start_local_runtime(WORKER, cwd=WORKERS, db_path=db, args=["--no-watch"])
    with RenderSync(base_url=server.url) as render:
        finished = render.workflows.run_task("wf/square", [12]).wait()
    body = httpx.get(f"{server.url}/v1/task-runs/{finished.id}").json()
    assert body["results"] == [144] and body["attempts"][0]["results"] == [144]
    with sqlite3.connect(db) as connection:
        (run_results,) = connection.execute(
            "SELECT results_json FROM task_runs WHERE id = ?", (finished.id,)
        ).fetchone()
        stored = connection.execute(
            "SELECT results_json FROM attempts WHERE run_id = ?", (finished.id,)
        ).fetchall()
    connection.close()
    assert run_results == "[144]"
    assert stored == [(None,)]
