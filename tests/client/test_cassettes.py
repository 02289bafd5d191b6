"""``Render`` and ``RenderSync`` replaying recorded exchanges with the local runtime (``cassettes/``).

Every scenario below runs in two modes:

- replay (the default, CI): vcrpy with ``record_mode="none"`` plays ``cassettes/<scenario>.yaml``; no server
  runs, and a request that is not in the cassette fails the test instead of reaching the network.
- record (``python cassettes/record.py``): the same scenario runs against a fresh local runtime serving
  ``tests/compat/workers/ours`` and its exchanges are written anew.

Recorded requests are rewritten to ``http://localhost:8120`` (the runtime's default address, and the base URL
replay uses), so a cassette does not depend on the ephemeral port it was recorded on. Only the headers that
matter for replay are kept (see ``KEPT_REQUEST_HEADERS`` and ``KEPT_RESPONSE_HEADERS``); ``Authorization``,
dates, server names, user agents and lengths are dropped. ``test_cassette_bodies_match_openapi`` checks every
recorded body against ``openapi/render-public-api.yaml``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jsonschema
import pytest
import vcr
import yaml
from vcr.errors import CannotOverwriteExistingCassetteException
from vcr.request import Request as VcrRequest
from vcr.util import read_body

from cassettes.record import recording_transport
from render_sdk import Render, RenderSync
from render_sdk.client import (
    ClientError,
    ListTaskRunsParams,
    TaskRunCanceledError,
    TaskRunError,
    TaskRunStatus,
)

ROOT = Path(__file__).resolve().parents[2]
CASSETTES = ROOT / "cassettes"
SPEC = ROOT / "openapi" / "render-public-api.yaml"
WORKER = ROOT / "tests" / "compat" / "workers" / "ours"
SLUG = "my-workflow"

RECORDING = os.environ.get("RENDER_SDK_RECORD_CASSETTES") == "1"
REPLAY_URL = "http://localhost:8120"
# Sent by recording so the test below can prove it never reaches a cassette.
RECORDING_TOKEN = "rnd_cassette_recording_token"

KEPT_REQUEST_HEADERS = ("accept", "content-type", "last-event-id")
KEPT_RESPONSE_HEADERS = ("content-type", "cache-control", "retry-after", "allow")


# ---- cassette format ---------------------------------------------------------------------------------------


def stable_request(request: VcrRequest) -> VcrRequest:
    """The request as stored and matched: fixed host, only the headers replay depends on."""
    parts = urlsplit(request.uri)
    request.uri = urlunsplit(("http", "localhost:8120", parts.path, parts.query, ""))
    request.headers = {
        name: value for name, value in request.headers.items() if name.lower() in KEPT_REQUEST_HEADERS
    }
    return request


def stable_response(response: dict[str, Any]) -> dict[str, Any]:
    """The response as stored: volatile headers (date, server, length) dropped, the checkout's path hidden.

    A failed run's error holds a traceback naming the worker's files; ``<repo>`` keeps re-recordings on
    other machines from showing a diff there.
    """
    response["headers"] = {
        name: values for name, values in response["headers"].items() if name.lower() in KEPT_RESPONSE_HEADERS
    }
    body = response["body"]["string"]
    if isinstance(body, bytes):
        response["body"]["string"] = body.replace(str(ROOT).encode(), b"<repo>")
    return response


class _ReadableDumper(yaml.SafeDumper):
    """Multi-line strings (event streams) as ``|`` blocks, so a cassette reads like the wire."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ReadableDumper.add_representer(str, _represent_str)


class ReadableYaml:
    """vcrpy serializer: YAML with block strings; loads with ``yaml.safe_load``."""

    @staticmethod
    def serialize(cassette: dict[str, Any]) -> str:
        return yaml.dump(cassette, Dumper=_ReadableDumper, sort_keys=False, allow_unicode=True, width=110)

    @staticmethod
    def deserialize(text: str) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(text)
        return data


def same_body_but_idempotency_key(recorded: VcrRequest, sent: VcrRequest) -> None:
    """vcrpy matcher: the same body, except that each ``POST /task-runs`` carries its own random key.

    Both must carry one: a start without a key could not be retried safely.
    """
    bodies = []
    for request in (recorded, sent):
        body = read_body(request)
        if request.method == "POST" and urlsplit(request.uri).path == "/v1/task-runs":
            data = json.loads(body)
            key = data.pop("idempotencyKey", None)
            assert isinstance(key, str) and key, f"{request.method} {request.uri} has no idempotencyKey"
            body = json.dumps(data, sort_keys=True).encode()
        bodies.append(body)
    assert bodies[0] == bodies[1], f"body differs: {bodies[0]!r} != {bodies[1]!r}"


def cassette_vcr() -> vcr.VCR:
    recorder = vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        serializer="readable-yaml",
        record_mode="all" if RECORDING else "none",
        match_on=["method", "scheme", "host", "port", "path", "query", "body_but_idempotency_key"],
        before_record_request=stable_request,
        before_record_response=stable_response,
        decode_compressed_response=True,
    )
    recorder.register_serializer("readable-yaml", ReadableYaml)
    recorder.register_matcher("body_but_idempotency_key", same_body_but_idempotency_key)
    return recorder


@dataclass
class Api:
    """Where a scenario sends its requests, and the cassette it plays or records."""

    base_url: str
    token: str

    def render(self) -> Render:
        transport = recording_transport(asynchronous=True) if RECORDING else None
        return Render(token=self.token, base_url=self.base_url, max_retries=0, transport=transport)  # type: ignore[arg-type]

    def render_sync(self) -> RenderSync:
        transport = recording_transport(asynchronous=False) if RECORDING else None
        return RenderSync(token=self.token, base_url=self.base_url, max_retries=0, transport=transport)  # type: ignore[arg-type]


@pytest.fixture
def api(request: pytest.FixtureRequest, start_local_runtime: Any) -> Iterator[Api]:
    """Replays ``cassettes/<test name without test_>.yaml``, or records it against a new local runtime."""
    path = CASSETTES / f"{request.node.name.removeprefix('test_')}.yaml"
    if RECORDING:
        runtime = start_local_runtime([sys.executable, "main.py"], cwd=WORKER, args=("--workflow-slug", SLUG))
        path.unlink(missing_ok=True)
        base_url, token = runtime.url, RECORDING_TOKEN
    else:
        if not path.is_file():
            pytest.fail(f"{path.name} is missing; record it with `python cassettes/record.py`")
        base_url, token = REPLAY_URL, "rnd_replay_token"
    with cassette_vcr().use_cassette(path.name) as cassette:
        yield Api(base_url, token)
    if not RECORDING:
        unplayed = [
            f"{req.method} {req.uri}"
            for index, (req, _) in enumerate(cassette.data)
            if not cassette.play_counts[index]
        ]
        assert not unplayed, f"{path.name}: the client no longer sends {unplayed}"


def task(name: str) -> str:
    return f"{SLUG}/{name}"


# ---- scenarios: one cassette each --------------------------------------------------------------------------


def test_completed_run(api: Api) -> None:
    async def scenario() -> None:
        async with api.render() as render:
            started = await render.workflows.run_task(task("square"), [5])
            assert started.id.startswith("trn-")
            assert started.status == TaskRunStatus.PENDING
            finished = await started
            assert finished.id == started.id
            assert finished.status == TaskRunStatus.COMPLETED
            assert finished.results == [25]
            assert finished.input_ == [5]

            got = await render.workflows.get_task_run(started.id)
            assert got.results == [25]
            assert [attempt.status for attempt in got.attempts] == [TaskRunStatus.COMPLETED]

            page = await render.workflows.list_task_runs(
                ListTaskRunsParams(root_task_run_ids=[started.id], limit=10)
            )
            assert [run.id for run in page] == [started.id]

    asyncio.run(scenario())


def test_named_input(api: Api) -> None:
    async def scenario() -> None:
        async with api.render() as render:
            finished = await (await render.workflows.run_task(task("square"), {"a": 12}))
            assert finished.input_ == {"a": 12}
            assert finished.results == [144]

    asyncio.run(scenario())


def test_failed_run(api: Api) -> None:
    async def scenario() -> None:
        async with api.render() as render:
            started = await render.workflows.run_task(task("always_fails"), ["boom"])
            with pytest.raises(TaskRunError) as raised:
                await started
            assert raised.value.details is not None
            assert raised.value.details.status == TaskRunStatus.FAILED
            assert "ValueError: boom" in (raised.value.error or "")
            got = await render.workflows.get_task_run(started.id)
            assert got.status == TaskRunStatus.FAILED
            assert got.results == []

    asyncio.run(scenario())


def test_canceled_run(api: Api) -> None:
    async def scenario() -> None:
        async with api.render() as render:
            started = await render.workflows.run_task(task("sleep"), [300])
            await render.workflows.cancel_task_run(started.id)
            with pytest.raises(TaskRunCanceledError) as raised:
                await started
            assert raised.value.details is not None
            assert raised.value.details.status == TaskRunStatus.CANCELED
            # Cancelling it again: the run has finished, the API refuses.
            with pytest.raises(ClientError) as refused:
                await started.cancel()
            assert refused.value.status_code == 409
            assert "already canceled" in refused.value.message

    asyncio.run(scenario())


def test_cancel_finished_run(api: Api) -> None:
    async def scenario() -> None:
        async with api.render() as render:
            finished = await (await render.workflows.run_task(task("square"), [3]))
            with pytest.raises(ClientError) as refused:
                await render.workflows.cancel_task_run(finished.id)
            assert refused.value.status_code == 409
            assert "already completed" in refused.value.message
            assert refused.value.error_id

    asyncio.run(scenario())


def test_not_found(api: Api) -> None:
    async def scenario() -> None:
        async with api.render() as render:
            for call in (
                render.workflows.get_task_run("trn-doesnotexist"),
                render.workflows.cancel_task_run("trn-doesnotexist"),
                render.workflows.get_task("tsk-doesnotexist"),
                render.workflows.run_task(task("no_such_task"), []),
            ):
                with pytest.raises(ClientError) as raised:
                    await call
                assert raised.value.status_code == 404
                assert "not found" in raised.value.message

    asyncio.run(scenario())


def test_bad_input(api: Api) -> None:
    async def scenario() -> None:
        async with api.render() as render:
            with pytest.raises(ClientError) as raised:
                await render.workflows.run_task(task("square"), [1, 2])
            assert raised.value.status_code == 400
            assert "square" in raised.value.message

    asyncio.run(scenario())


def test_tasks(api: Api) -> None:
    async def scenario() -> None:
        async with api.render() as render:
            page = await render.workflows.list_tasks()
            by_name = {listed.name: listed for listed in page}
            assert set(by_name) == {"square", "always_fails", "sleep"}
            square = await render.workflows.get_task(by_name["square"].id)
            assert square.name == "square"
            assert square.id.startswith("tsk-")

    asyncio.run(scenario())


def test_task_run_events(api: Api) -> None:
    async def scenario() -> None:
        async with api.render() as render:
            good = await render.workflows.run_task(task("square"), [2])
            bad = await render.workflows.run_task(task("always_fails"), ["no"])
            events = [event async for event in render.workflows.task_run_events([good.id, bad.id])]
            statuses = {event.details.id: event.details.status for event in events}
            assert statuses == {good.id: TaskRunStatus.COMPLETED, bad.id: TaskRunStatus.FAILED}
            assert all(event.event.startswith("task.") for event in events)

    asyncio.run(scenario())


def test_wait_for_task_run(api: Api) -> None:
    async def scenario() -> None:
        async with api.render() as render:
            started = await render.workflows.run_task(task("square"), [6])
            finished = await render.workflows.wait_for_task_run(started.id, timeout=60)
            assert finished.results == [36]

    asyncio.run(scenario())


def test_sync_completed_run(api: Api) -> None:
    with api.render_sync() as render:
        started = render.workflows.run_task(task("square"), [9])
        finished = started.wait(timeout=60)
        assert finished.results == [81]
        assert render.workflows.get_task_run(started.id).results == [81]
        listed = render.workflows.list_task_runs(ListTaskRunsParams(root_task_run_ids=[started.id]))
        assert [run.id for run in listed] == [started.id]


def test_sync_canceled_run(api: Api) -> None:
    with api.render_sync() as render:
        started = render.workflows.run_task(task("sleep"), [300])
        started.cancel()
        with pytest.raises(TaskRunCanceledError):
            started.wait(timeout=60)
        with pytest.raises(ClientError) as raised:
            render.workflows.get_task_run("trn-doesnotexist")
        assert raised.value.status_code == 404


# ---- the cassettes themselves ------------------------------------------------------------------------------


def cassette_paths() -> list[Path]:
    return sorted(CASSETTES.glob("*.yaml"))


def interactions(path: Path) -> list[dict[str, Any]]:
    data = ReadableYaml.deserialize(path.read_text())
    found: list[dict[str, Any]] = data["interactions"]
    return found


def test_every_scenario_has_a_cassette_and_no_cassette_is_stale() -> None:
    recorded = {path.stem for path in cassette_paths()}
    expected = {
        name.removeprefix("test_")
        for name, value in globals().items()
        if name.startswith("test_") and "api" in inspect.signature(value).parameters
    }
    assert recorded == expected


def test_cassettes_hold_no_secrets_or_volatile_headers() -> None:
    for path in cassette_paths():
        text = path.read_text()
        assert RECORDING_TOKEN not in text, path.name
        assert "rnd_" not in text, path.name
        assert str(ROOT) not in text, path.name
        for interaction in interactions(path):
            assert interaction["request"]["uri"].startswith(f"{REPLAY_URL}/v1/"), path.name
            request_headers = {name.lower() for name in interaction["request"]["headers"]}
            response_headers = {name.lower() for name in interaction["response"]["headers"]}
            assert request_headers <= set(KEPT_REQUEST_HEADERS), (path.name, request_headers)
            assert response_headers <= set(KEPT_RESPONSE_HEADERS), (path.name, response_headers)


# ---- every recorded body against the OpenAPI description ---------------------------------------------------

# Statuses the API sends but its description does not list (render-protocol §5.2: Render answers 409 when a
# finished run is canceled). Their bodies are still checked, against the general Error schema.
UNDOCUMENTED_ERRORS = {("delete", "/task-runs/{taskRunId}", 409)}


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    return loaded


def json_schema(schema: Any, seen: tuple[str, ...] = ()) -> Any:
    """An OpenAPI 3.0 schema as plain JSON Schema: ``$ref``s inlined and ``nullable`` turned into a type."""
    if isinstance(schema, list):
        return [json_schema(item, seen) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref in seen:
            raise ValueError(f"recursive schema {ref} is not supported here")
        target: Any = spec()
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        return json_schema(target, (*seen, ref))
    converted = {key: json_schema(value, seen) for key, value in schema.items() if key != "nullable"}
    if schema.get("nullable"):
        if "type" in converted:
            converted["type"] = [converted["type"], "null"]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


def operation_for(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The path template and operation that ``method path`` (without ``/v1``) is an instance of."""
    # Literal templates first, so /task-runs/events is not taken for /task-runs/{taskRunId}.
    templates = sorted(spec()["paths"], key=lambda template: (template.count("{"), template))
    for template in templates:
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method in spec()["paths"][template]:
            operation: dict[str, Any] = spec()["paths"][template][method]
            return template, operation
    raise AssertionError(f"{method.upper()} {path} is not an operation of {SPEC.name}")


def response_schema(method: str, path: str, status: int, content_type: str) -> Any:
    """The JSON schema a response body must match, or None when the operation documents no body."""
    template, operation = operation_for(method, path)
    responses = operation["responses"]
    documented = responses.get(str(status)) or responses.get("default")
    if documented is None:
        assert (method, template, status) in UNDOCUMENTED_ERRORS, (
            f"{method.upper()} {template} answered {status}, which {SPEC.name} does not document"
        )
        return json_schema({"$ref": "#/components/schemas/Error"})
    documented = json_schema(documented)
    content = documented.get("content")
    if not content:
        return None
    media = content_type.split(";")[0].strip()
    assert media in content, f"{method.upper()} {template} {status}: {media} is not one of {sorted(content)}"
    if media == "text/event-stream":
        return json_schema({"$ref": "#/components/schemas/TaskRunDetails"})
    return content[media]["schema"]


def event_data(stream: str) -> list[Any]:
    """The JSON ``data`` of every event in a recorded event stream."""
    events = []
    for frame in re.split(r"\r?\n\r?\n", stream):
        lines = [line for line in frame.splitlines() if line and not line.startswith(":")]
        fields = [line.partition(":")[::2] for line in lines]
        data = "\n".join(value.removeprefix(" ") for name, value in fields if name == "data")
        if any(name == "event" for name, _ in fields) or data:
            events.append(json.loads(data))
    return events


def check_interaction(interaction: dict[str, Any]) -> int:
    """Validate one recorded response body; returns how many JSON documents were checked."""
    request, response = interaction["request"], interaction["response"]
    method = request["method"].lower()
    path = urlsplit(request["uri"]).path.removeprefix("/v1")
    status = response["status"]["code"]
    content_type = next(
        (values[0] for name, values in response["headers"].items() if name.lower() == "content-type"), ""
    )
    body = response["body"]["string"]
    schema = response_schema(method, path, status, content_type)
    if schema is None:
        assert not body, f"{method.upper()} {path} {status} documents no body but one was recorded"
        return 0
    documents = event_data(body) if content_type.startswith("text/event-stream") else [json.loads(body)]
    for document in documents:
        jsonschema.Draft4Validator(schema).validate(document)
    return len(documents)


@pytest.mark.parametrize("path", cassette_paths(), ids=lambda path: path.name)
def test_cassette_bodies_match_openapi(path: Path) -> None:
    checked = sum(check_interaction(interaction) for interaction in interactions(path))
    assert checked, f"{path.name} has no response body to check"


def test_schema_check_rejects_a_tampered_body() -> None:
    recorded = next(
        interaction
        for path in cassette_paths()
        for interaction in interactions(path)
        if interaction["request"]["method"] == "GET"
        and interaction["response"]["status"]["code"] == 200
        and re.search(r"/v1/task-runs/trn-[^/]+$", interaction["request"]["uri"])
        and json.loads(interaction["response"]["body"]["string"])["attempts"]
    )
    assert check_interaction(recorded) == 1
    for tamper in (
        lambda body: body.pop("taskId"),
        lambda body: body.update(status="exploded"),
        lambda body: body.update(results="25"),
        lambda body: body["attempts"][0].pop("startedAt"),
    ):
        body = json.loads(recorded["response"]["body"]["string"])
        tamper(body)
        tampered = {**recorded, "response": {**recorded["response"], "body": {"string": json.dumps(body)}}}
        with pytest.raises(jsonschema.ValidationError):
            check_interaction(tampered)


def test_schema_check_rejects_a_tampered_event() -> None:
    recorded = next(
        interaction
        for path in cassette_paths()
        for interaction in interactions(path)
        if "/v1/task-runs/events" in interaction["request"]["uri"]
    )
    assert check_interaction(recorded) >= 1
    stream = recorded["response"]["body"]["string"]
    tampered_stream = re.sub(r'"status": ?"(\w+)"', '"status":"exploded"', stream)
    assert tampered_stream != stream
    tampered = {**recorded, "response": {**recorded["response"], "body": {"string": tampered_stream}}}
    with pytest.raises(jsonschema.ValidationError):
        check_interaction(tampered)


def test_replay_never_reaches_the_network() -> None:
    """A request missing from the cassette fails; with record_mode "none" nothing is ever sent."""
    if RECORDING:
        pytest.skip("only meaningful in replay mode")

    async def scenario() -> None:
        async with Render(token="rnd_replay_token", base_url=REPLAY_URL, max_retries=0) as render:
            await render.workflows.run_task(task("square"), [1, 2, 3])

    with (
        cassette_vcr().use_cassette("bad_input.yaml"),
        pytest.raises(CannotOverwriteExistingCassetteException),
    ):
        asyncio.run(scenario())


def test_recording_stops_reading_a_stream_the_server_keeps_open(tmp_path: Path) -> None:
    """The recorder ends an event stream after its runs' terminal events, though the server keeps it open."""
    from tests.client.api_server import ApiServer

    recorder = vcr.VCR(cassette_library_dir=str(tmp_path), record_mode="all", decode_compressed_response=True)
    with ApiServer() as server, recorder.use_cassette("kept_open.yaml") as cassette:

        async def scenario() -> list[str]:
            transport = recording_transport(asynchronous=True)
            async with Render(base_url=server.url, transport=transport) as render:  # type: ignore[arg-type]
                run = await render.workflows.run_task(task("square"), [1])
                server.finish([run.id])
                return [event.details.id async for event in render.workflows.task_run_events([run.id])]

        run_ids = asyncio.run(scenario())
    streams = [response for request, response in cassette.data if request.path.endswith("/events")]
    assert len(run_ids) == 1 and len(streams) == 1
    recorded = streams[0]["body"]["string"]
    body = recorded.decode() if isinstance(recorded, bytes) else recorded
    assert body.rstrip().endswith("}") and run_ids[0] in body  # cut right after the terminal event
