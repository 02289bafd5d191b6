"""Configuration: where requests go, which key they carry, and that the key never leaks."""

from __future__ import annotations

import logging

import httpx
import pytest

from render_sdk.client import Render, RenderSync
from render_sdk.client._config import Timeouts, resolve_config


def resolve(token: str | None = None, base_url: str | None = None, **env: str):  # type: ignore[no-untyped-def]
    return resolve_config(token, base_url, max_retries=3, timeouts=Timeouts(), poll_interval=2.0, environ=env)


@pytest.mark.parametrize(
    ("base_url", "env", "expected_root"),
    [
        (None, {}, "https://api.render.com/v1"),
        ("https://api.render.com", {}, "https://api.render.com/v1"),
        ("https://api.render.com/", {}, "https://api.render.com/v1"),
        ("https://api.render.com/v1", {}, "https://api.render.com/v1"),
        ("https://api.render.com/v1/", {}, "https://api.render.com/v1"),
        (None, {"RENDER_LOCAL_DEV_URL": "http://127.0.0.1:9000"}, "http://127.0.0.1:9000/v1"),
        (None, {"RENDER_LOCAL_DEV_URL": "localhost:9000"}, "http://localhost:9000/v1"),
        (None, {"RENDER_LOCAL_DEV_URL": "  "}, "https://api.render.com/v1"),
        (None, {"RENDER_USE_LOCAL_DEV": "true"}, "http://localhost:8120/v1"),
        (None, {"RENDER_USE_LOCAL_DEV": "TRUE"}, "http://localhost:8120/v1"),
        (None, {"RENDER_USE_LOCAL_DEV": "Yes"}, "http://localhost:8120/v1"),
        (None, {"RENDER_USE_LOCAL_DEV": "1"}, "http://localhost:8120/v1"),
        (None, {"RENDER_USE_LOCAL_DEV": "0"}, "https://api.render.com/v1"),
        (None, {"RENDER_USE_LOCAL_DEV": "false"}, "https://api.render.com/v1"),
        # The local URL wins over the switch, and an explicit argument wins over both.
        (
            None,
            {"RENDER_LOCAL_DEV_URL": "http://localhost:7000", "RENDER_USE_LOCAL_DEV": "true"},
            "http://localhost:7000/v1",
        ),
        (
            "http://localhost:5000",
            {"RENDER_LOCAL_DEV_URL": "http://localhost:7000"},
            "http://localhost:5000/v1",
        ),
        ("http://localhost:5000", {"RENDER_USE_LOCAL_DEV": "true"}, "http://localhost:5000/v1"),
        ("localhost:5000", {}, "http://localhost:5000/v1"),
        ("127.0.0.1:5000/", {}, "http://127.0.0.1:5000/v1"),
        ("api.render.com", {}, "https://api.render.com/v1"),
        ("https://proxy.example/render/v1", {}, "https://proxy.example/render/v1"),
    ],
)
def test_base_url_resolution(base_url: str | None, env: dict[str, str], expected_root: str) -> None:
    config = resolve("rnd_x", base_url, **env)
    assert config.api_root == expected_root
    assert not config.base_url.endswith("/v1")


@pytest.mark.parametrize(
    ("base_url", "env"),
    [
        ("http://api.render.com", {}),
        ("http://proxy.example/render", {}),
        ("http://10.0.0.7:8120", {}),
        (None, {"RENDER_LOCAL_DEV_URL": "devbox:9000"}),
        (None, {"RENDER_LOCAL_DEV_URL": "http://192.168.1.20:8120"}),
    ],
)
def test_a_token_is_never_sent_over_plain_http_to_another_host(
    base_url: str | None, env: dict[str, str]
) -> None:
    for flavor in (Render, RenderSync):
        with pytest.raises(ValueError, match=r"plain HTTP.*use https://") as raised:
            flavor(token="rnd_secret_key", base_url=base_url) if not env else resolve("rnd_secret_key", **env)
        assert "rnd_secret_key" not in str(raised.value)
    if "render.com" not in (base_url or ""):
        # Without a key nothing secret travels: a local server on another host stays reachable.
        assert resolve(None, base_url, **env).api_root.startswith("http://")


@pytest.mark.parametrize(
    "base_url",
    [
        "http://localhost:8120",
        "http://127.0.0.1:8120",
        "http://127.0.0.9",
        "http://[::1]:8120",
        "localhost:5000",
    ],
)
def test_a_token_may_go_over_plain_http_to_loopback(base_url: str) -> None:
    assert resolve("rnd_x", base_url).api_root == base_url.removeprefix("http://").join(("http://", "/v1"))


def test_token_falls_back_to_render_api_key() -> None:
    assert resolve(None, None, RENDER_API_KEY="rnd_env").token == "rnd_env"
    assert resolve("rnd_arg", None, RENDER_API_KEY="rnd_env").token == "rnd_arg"


def test_cloud_without_token_names_render_api_key() -> None:
    with pytest.raises(ValueError, match="RENDER_API_KEY"):
        resolve()
    with pytest.raises(ValueError, match="RENDER_API_KEY"):
        Render()
    with pytest.raises(ValueError, match="RENDER_API_KEY"):
        RenderSync()


@pytest.mark.parametrize(
    ("base_url", "env"),
    [
        ("http://localhost:8120", {}),
        (None, {"RENDER_USE_LOCAL_DEV": "true"}),
        (None, {"RENDER_LOCAL_DEV_URL": "http://devbox:8120"}),
    ],
)
def test_local_server_needs_no_token(base_url: str | None, env: dict[str, str]) -> None:
    assert resolve(None, base_url, **env).token is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_url": ""}, "base_url"),
        ({"base_url": "ftp://x"}, "http"),
        ({"base_url": "https://x/?a=1"}, "query"),
        ({"token": "  "}, "token"),
        ({"token": "rnd_a\nb"}, "whitespace"),
        ({"max_retries": -1}, "max_retries"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"timeouts": Timeouts(read=0)}, "timeouts.read"),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, object], message: str) -> None:
    kwargs = {"token": "rnd_x", "base_url": "http://localhost:1", **kwargs}
    with pytest.raises(ValueError, match=message):
        Render(**kwargs)  # type: ignore[arg-type]


def test_no_authorization_header_without_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    with RenderSync(base_url="http://localhost:8120", transport=httpx.MockTransport(handler)) as render:
        render.workflows.cancel_task_run("trn-1")
    assert "authorization" not in seen[0].headers
    assert seen[0].headers["user-agent"].startswith("render-sdk-python/")


def test_token_never_in_repr_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = "rnd_very_secret_key"

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {secret}"
        return httpx.Response(401, text=f"denied for {request.url}")

    caplog.set_level(logging.DEBUG)
    render = RenderSync(token=secret, transport=httpx.MockTransport(handler))
    texts = [repr(render), repr(render.workflows), repr(render._config), repr(render._http.auth)]
    with pytest.raises(Exception) as caught:
        render.workflows.get_task_run("trn-1")
    texts += [str(caught.value), repr(caught.value), repr(caught.value.body)]
    async_render = Render(token=secret)
    texts += [repr(async_render), repr(async_render.workflows)]
    texts += [record.getMessage() for record in caplog.records]
    for text in texts:
        assert secret not in text
