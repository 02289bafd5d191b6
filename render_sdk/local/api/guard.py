"""What may reach the local API: a pure ASGI middleware in front of every route.

A web page the developer happens to open can send requests to ``127.0.0.1``, and through DNS rebinding
(a hostile name that resolves to 127.0.0.1) even read the answers. So, before any route runs:

- the ``Host`` header must name this server: a loopback name or address, the address it is bound to, or a
  host allowed with ``render-workflows dev --allowed-host`` (403 otherwise);
- a state-changing request (POST, PUT, PATCH, DELETE) that carries an ``Origin`` must come from this server's
  own origin (403 otherwise): the dashboard is same-origin, and the SDK clients send no ``Origin``;
- a request with a body must say ``Content-Type: application/json`` (415 otherwise), which a page cannot send
  cross-origin without a CORS preflight, and this server answers no preflight;
- the body is read here, and no further than ``max_body_bytes`` (413 as soon as it is passed, whatever
  ``Content-Length`` claimed), then handed to the route.

Every refusal is a JSON ``{"id", "message"}`` body, as the API's other errors.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from render_sdk.local.api.errors import error_response

__all__ = ["LOOPBACK_HOSTS", "GuardPolicy", "RequestGuard"]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ANY_INTERFACE = frozenset({"", "0.0.0.0", "::"})


@dataclass(frozen=True)
class GuardPolicy:
    """What :class:`RequestGuard` lets through.

    Attributes:
        allowed_hosts: Host names and addresses (lower case, IPv6 without brackets) a ``Host`` may name.
        max_body_bytes: The largest request body read.
    """

    allowed_hosts: frozenset[str]
    max_body_bytes: int

    @classmethod
    def for_address(cls, bound_host: str, extra_hosts: Iterable[str], max_body_bytes: int) -> GuardPolicy:
        """The policy of a server bound to ``bound_host``: loopback, that address, and ``extra_hosts``."""
        hosts = set(LOOPBACK_HOSTS) | {_host_name(host) for host in extra_hosts}
        if bound_host not in _ANY_INTERFACE:
            hosts.add(_host_name(bound_host))
        return cls(frozenset(hosts), max_body_bytes)


class RequestGuard:
    """Refuses requests :class:`GuardPolicy` does not allow; passes the rest, body read, to ``app``."""

    def __init__(self, app: ASGIApp, policy: GuardPolicy) -> None:
        self._app = app
        self._policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(scope["method"], headers)
        if refusal is None:
            try:
                body = await _read_bounded(receive, headers, self._policy.max_body_bytes)
            except _ClientGone:
                return
            if body is not None:
                await self._app(scope, _replay(body, receive), send)
                return
            limit = self._policy.max_body_bytes
            refusal = 413, f"request body is larger than the local runtime's limit of {limit} bytes"
        status, message = refusal
        # The rest of a refused body is never read, so the connection cannot carry another request.
        response = error_response(status, message, headers={"Connection": "close"})
        await response(scope, receive, send)

    def _refusal(self, method: str, headers: Headers) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if _host_name(host) not in self._policy.allowed_hosts:
            return 403, (
                f"Host {host!r} is not an address of this server; if you reach it through that name, "
                f"start it with `render-workflows dev --allowed-host {_host_name(host) or 'NAME'}`"
            )
        origin = headers.get("origin")
        if method in STATE_CHANGING_METHODS and origin is not None and not _same_origin(origin, host):
            return 403, (
                f"{method} from a web page at {origin} is refused: only this server's own pages "
                f"(http://{host}) may start or cancel runs"
            )
        if _has_body(headers):
            media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media_type != "application/json":
                shown = repr(media_type) if media_type else "none"
                return 415, f"a request body must be sent as Content-Type: application/json, got {shown}"
        return None


def _host_name(authority: str) -> str:
    """The host of ``authority`` (``host[:port]``), lower case, brackets and a trailing dot removed."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1:].split("]", 1)[0]
    if authority.count(":") == 1:
        authority = authority.split(":", 1)[0]
    return authority.rstrip(".")


def _same_origin(origin: str, host: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower()


def _has_body(headers: Headers) -> bool:
    return "transfer-encoding" in headers or headers.get("content-length", "0").strip() not in ("", "0")


class _ClientGone(Exception):
    """The client disconnected before its request body was complete: nobody is left to answer."""


async def _read_bounded(receive: Receive, headers: Headers, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to pass ``limit`` bytes (declared or as read)."""
    declared = headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the route the body already read, then whatever comes next (a disconnect)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed
