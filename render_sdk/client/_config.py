"""Where the client sends requests, with which key, and how long it waits: resolved once per client.

Resolution order for the base URL: an explicit ``base_url`` argument, then ``RENDER_LOCAL_DEV_URL``, then
``RENDER_USE_LOCAL_DEV`` (``1``/``true``/``yes``, any case) meaning ``http://localhost:8120``, then Render's
cloud. The environment never overrides an explicit argument (the official SDK's did).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["CLOUD_URL", "LOCAL_DEV_URL", "ClientConfig", "Timeouts", "resolve_config"]

CLOUD_URL = "https://api.render.com"
LOCAL_DEV_URL = "http://localhost:8120"
_TRUE_WORDS = frozenset({"1", "true", "yes"})


@dataclass(frozen=True)
class Timeouts:
    """Timeouts in seconds; every request has all four, only the event stream's read waits on heartbeats."""

    connect: float = 10.0
    read: float = 30.0
    write: float = 30.0
    #: Waiting for one of the client's 20 pooled connections: bursts of many concurrent requests queue here.
    pool: float = 60.0
    #: No bytes (not even a heartbeat comment) on the event stream for this long means the stream is dead.
    stream_idle: float = 60.0


@dataclass(frozen=True)
class ClientConfig:
    """Everything a client needs to know before its first request.

    Attributes:
        base_url: Where the API lives, without the ``/v1`` prefix (``https://api.render.com``).
        api_root: ``base_url`` with ``/v1`` appended once; every path is relative to it.
        token: The API key, or None when talking to a local server without one. Never shown in ``repr``.
        max_retries: How many times a retryable request is retried (0 disables retries).
        timeouts: Per-request timeouts.
        poll_interval: Seconds between GETs when waiting falls back to polling.
    """

    base_url: str
    api_root: str
    token: str | None = field(repr=False)
    max_retries: int = 3
    timeouts: Timeouts = field(default_factory=Timeouts)
    poll_interval: float = 2.0

    def retries(self, override: int | None = None) -> int:
        """How many retries one request gets: ``override`` when given, else :attr:`max_retries`."""
        return self.max_retries if override is None else override


def resolve_config(
    token: str | None,
    base_url: str | None,
    *,
    max_retries: int,
    timeouts: Timeouts,
    poll_interval: float,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Apply the argument > environment > default rules and check the result.

    Raises:
        ValueError: ``base_url`` or the token is unusable, the cloud is targeted without a token, or a
            numeric setting is out of range.
    """
    env = os.environ if environ is None else environ
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
    if not poll_interval > 0:
        raise ValueError(f"poll_interval must be > 0 seconds, got {poll_interval!r}")
    for name in ("connect", "read", "write", "pool", "stream_idle"):
        if not getattr(timeouts, name) > 0:
            raise ValueError(f"timeouts.{name} must be > 0 seconds, got {getattr(timeouts, name)!r}")

    if base_url is not None:
        if not isinstance(base_url, str) or not base_url.strip():
            raise ValueError(f"base_url must be a non-empty URL string, got {base_url!r}")
        url, from_local_env = base_url.strip(), False
    elif env.get("RENDER_LOCAL_DEV_URL", "").strip():
        url, from_local_env = env["RENDER_LOCAL_DEV_URL"].strip(), True
    elif env.get("RENDER_USE_LOCAL_DEV", "").strip().lower() in _TRUE_WORDS:
        url, from_local_env = LOCAL_DEV_URL, True
    else:
        url, from_local_env = CLOUD_URL, False

    url = _with_scheme(url, local=from_local_env)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http(s) URL with a host, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not have a query or fragment, got {url!r}")
    url = url.rstrip("/")
    api_root = url if url.endswith("/v1") else url + "/v1"

    if token is None:
        token = env.get("RENDER_API_KEY") or None
    elif not isinstance(token, str) or not token.strip():
        raise ValueError("token must be a non-empty string (or None to use RENDER_API_KEY)")
    if token is not None and any(char.isspace() for char in token.strip()):
        # Said without echoing the value: a key pasted with a newline in the middle is still a secret.
        raise ValueError("the API key contains whitespace; check the token argument or RENDER_API_KEY")
    if token is not None and parts.scheme == "http" and not _is_loopback(parts.hostname):
        # Said without echoing the key: plain HTTP would send it readable to every hop on the way.
        raise ValueError(
            f"Refusing to send the API key over plain HTTP to {url}: use https:// (plain http:// is allowed "
            "only for loopback hosts such as localhost or 127.0.0.1), or pass no token for a local server "
            "that needs none (unset RENDER_API_KEY)"
        )
    if token is None and _is_render_cloud(parts.hostname):
        raise ValueError(
            f"No API key for {url}: pass token=... or set the RENDER_API_KEY environment variable "
            "(for a local server set RENDER_USE_LOCAL_DEV=true or pass base_url='http://localhost:8120')"
        )
    return ClientConfig(
        base_url=url[: -len("/v1")] if url.endswith("/v1") else url,
        api_root=api_root,
        token=token.strip() if token else None,
        max_retries=max_retries,
        timeouts=timeouts,
        poll_interval=poll_interval,
    )


def _with_scheme(url: str, *, local: bool) -> str:
    if "://" in url:
        return url
    host = urlsplit("//" + url).hostname or ""
    # A local dev server speaks plain HTTP; anything else gets TLS.
    return ("http://" if local or _is_loopback(host) else "https://") + url


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _is_render_cloud(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == "render.com" or host.endswith(".render.com")
