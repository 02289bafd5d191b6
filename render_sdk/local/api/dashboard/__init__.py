"""The dashboard: static pages at ``/`` (``static/``, shipped in the package) that read the local API.

The pages are plain HTML, CSS and JavaScript modules: no build step, nothing fetched from anywhere but this
server. They use the public REST API and the local runtime's own extensions (``openapi/local-runtime.yaml``),
like any other client; the Content-Security-Policy lets them reach nothing else, and no other site frame them.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["ASSETS_PATH", "dashboard_routes"]

STATIC = Path(__file__).resolve().parent / "static"
ASSETS_PATH = "/assets"
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The pages change with the package: always ask (cheap, answered from the file's mtime).
    "Cache-Control": "no-cache",
}


def dashboard_routes() -> list[BaseRoute]:
    """``GET /`` (the page) and ``/assets/...`` (its scripts and styles)."""

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=_HEADERS)

    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Mount(ASSETS_PATH, app=_Assets(directory=STATIC)),
    ]


class _Assets(StaticFiles):
    """Static files with the dashboard's headers."""

    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(_HEADERS)
        return response
