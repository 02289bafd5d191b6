"""The layers of ``render_sdk.local``: what importing each one loads."""

from __future__ import annotations

import json
import subprocess
import sys

SERVERS = {"uvicorn", "starlette", "h11"}


def imported_after(statement: str, env: dict[str, str]) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout))


def test_importing_the_package_loads_no_server(subprocess_env: dict[str, str]) -> None:
    modules = imported_after("import render_sdk.local", subprocess_env)
    assert not {name for name in modules if name.split(".")[0] in SERVERS}


def test_the_engine_knows_no_http_and_no_processes(subprocess_env: dict[str, str]) -> None:
    modules = imported_after(
        "import render_sdk.local.engine.states, render_sdk.local.engine.records", subprocess_env
    )
    assert not {name for name in modules if name.split(".")[0] in SERVERS}
    assert not {
        name for name in modules if name.startswith(("render_sdk.local.api", "render_sdk.local.attempts"))
    }


def test_the_lazy_names_resolve() -> None:
    import render_sdk.local
    from render_sdk.local import attempts, runtime

    assert render_sdk.local.DevOptions is runtime.DevOptions
    assert render_sdk.local.WorkerCommand is attempts.worker_command.WorkerCommand
    assert sorted(name for name in render_sdk.local.__all__ if getattr(render_sdk.local, name) is None) == []
