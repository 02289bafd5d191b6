"""The request guard in front of the local API, in-process (``httpx.ASGITransport``) around an echo route.

The same checks against the real server (``render-workflows dev``) are in ``test_security.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from render_sdk.local.api.guard import GuardPolicy, RequestGuard

LIMIT = 1000


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"method": request.method, "bytes": len(body)})


def guarded(bound_host: str = "127.0.0.1", extra_hosts: tuple[str, ...] = ()) -> RequestGuard:
    app = Starlette(routes=[Route("/echo", echo, methods=["GET", "POST", "DELETE"])])
    return RequestGuard(app, GuardPolicy.for_address(bound_host, extra_hosts, LIMIT))


def send(app: RequestGuard, method: str, content: Any = None, **headers: str) -> httpx.Response:
    async def request() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8120") as client:
            named = {name.replace("_", "-"): value for name, value in headers.items()}
            return await client.request(method, "/echo", content=content, headers=named)

    return asyncio.run(request())


def assert_refused(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["id"].startswith("err-") and words in body["message"], body
    assert response.headers["connection"] == "close"


LOOPBACK = ["127.0.0.1:8120", "localhost:8120", "LOCALHOST", "[::1]:8120", "localhost."]


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_hosts_pass(host: str) -> None:
    assert send(guarded(), "GET", host=host).status_code == 200


@pytest.mark.parametrize("host", ["attacker.example:8120", "127.0.0.1.nip.io", "192.168.1.5:8120", ""])
def test_foreign_host_is_refused(host: str) -> None:
    assert_refused(send(guarded(), "GET", host=host), 403, "is not an address of this server")


def test_allowed_host_option_and_bound_address_pass() -> None:
    app = guarded(bound_host="192.168.1.5", extra_hosts=("devbox.local",))
    for host in ("192.168.1.5:8120", "devbox.local:8120", "127.0.0.1:8120"):
        assert send(app, "GET", host=host).status_code == 200, host
    assert send(app, "GET", host="other.local").status_code == 403


def test_cross_origin_post_is_refused_whatever_its_type() -> None:
    for content_type in ("text/plain", "application/json"):
        response = send(guarded(), "POST", b"{}", origin="https://evil.example", content_type=content_type)
        assert_refused(response, 403, "from a web page at https://evil.example is refused")
    assert_refused(send(guarded(), "DELETE", origin="null"), 403, "from a web page at null")


def test_same_origin_and_no_origin_pass() -> None:
    app = guarded()
    same = send(app, "POST", b"{}", origin="http://127.0.0.1:8120", content_type="application/json")
    assert same.json() == {"method": "POST", "bytes": 2}
    assert send(app, "POST", b"{}", content_type="application/json; charset=utf-8").status_code == 200
    # A cross-origin GET reads nothing (no CORS headers) and changes nothing: allowed.
    assert send(app, "GET", origin="https://evil.example").status_code == 200


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_must_be_json(content_type: str | None) -> None:
    headers = {} if content_type is None else {"content_type": content_type}
    response = send(guarded(), "POST", b'{"task": "x"}', **headers)
    assert_refused(response, 415, "must be sent as Content-Type: application/json")


def test_declared_oversize_body_is_refused_unread() -> None:
    response = send(guarded(), "POST", b"x" * (LIMIT + 1), content_type="application/json")
    assert_refused(response, 413, f"larger than the local runtime's limit of {LIMIT} bytes")
    assert send(guarded(), "POST", b"x" * LIMIT, content_type="application/json").json()["bytes"] == LIMIT


def test_chunked_body_is_cut_off_while_reading() -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        while True:
            sent.append(100)
            yield b"x" * 100

    response = send(guarded(), "POST", endless(), content_type="application/json")
    assert_refused(response, 413, "larger than the local runtime's limit")
    assert sum(sent) <= LIMIT + 100  # read no further than the first chunk past the limit
