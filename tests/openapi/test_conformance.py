"""Our hand-written REST spec must agree with Render's published OpenAPI description.

``openapi/render-public-api.yaml`` covers the 15 operations that Render tags "Workflows (Beta)" and
"Workflow Tasks (Beta)". The reference is ``../shared/reference/render-public-api.openapi.json``
next to the repository root. Both documents are first turned into plain trees by resolving every
``$ref`` (any JSON pointer, including the reference's pointers into ``paths`` and into other
schemas' properties; a reference cycle becomes a ``<cycle>`` marker). Then, per operation:

- method, path (both specs use the same ``/v1`` server), operationId, tags, effective security;
- parameters, keyed by location and name: required, schema (see below), and style/explode with the
  OpenAPI defaults filled in (``form``/explode for query, ``simple`` for path and header);
- request body: presence, ``required``, content types and schema;
- responses: the set of status codes, and per code the content types, schema and header names and
  header schemas.

Schemas are compared recursively: type, format, enum values, default, numeric and length bounds,
nullable, properties (missing or extra), required lists, array items, additionalProperties (absent,
``true`` and ``{}`` all mean "anything"), and oneOf/anyOf alternatives (paired after sorting, so their
order does not matter). allOf parts are merged into one schema first. Descriptions, summaries,
examples and titles are never compared.

Every difference is collected and reported at once, one per line, e.g.
``GET /task-runs 200 body[].taskRun.attempts[].startedAt: required in reference, optional in ours``.

A fresh clone has no ``../shared/``: the tests that need the reference are then skipped with a one-line
reason, except under CI (the ``CI`` environment variable set, as every CI service does), where a missing
reference fails them. ``RENDER_SDK_OPENAPI_REFERENCE`` points at the reference elsewhere.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE_VARIABLE = "RENDER_SDK_OPENAPI_REFERENCE"
REFERENCE_PATH = Path(
    os.environ.get(REFERENCE_VARIABLE)
    or REPO_ROOT.parent / "shared" / "reference" / "render-public-api.openapi.json"
)
OUR_SPEC_PATH = REPO_ROOT / "openapi" / "render-public-api.yaml"

TAGS = {"Workflows (Beta)", "Workflow Tasks (Beta)"}
OPERATION_IDS = {
    "listWorkflows",
    "createWorkflow",
    "getWorkflow",
    "updateWorkflow",
    "deleteWorkflow",
    "listWorkflowVersions",
    "createWorkflowVersion",
    "getWorkflowVersion",
    "listTasks",
    "getTask",
    "listTaskRuns",
    "createTask",
    "streamTaskRunsEvents",
    "getTaskRun",
    "cancelTaskRun",
}
# What Render's API gained after the reference document was taken (issue 10: the issue describes today's
# Render, and wins): listed here so that every other difference still fails.
NEWER_THAN_REFERENCE = frozenset({"POST /task-runs request body.idempotencyKey: property not in reference"})

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Schema keywords compared by plain equality. Anything not listed here and not handled by a
# dedicated function (properties, required, items, ...) is documentation and is ignored.
SCALAR_KEYWORDS = (
    "type",
    "format",
    "default",
    "nullable",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "readOnly",
    "writeOnly",
)
CYCLE = {"<cycle>": True}

Spec = dict[str, Any]
Diffs = Iterator[str]


# --------------------------------------------------------------------------- loading and $refs


def running_in_ci() -> bool:
    """True when the ``CI`` variable is set to anything but an empty string, ``0`` or ``false``."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def load_reference() -> Spec:
    if not REFERENCE_PATH.is_file():
        reason = f"reference OpenAPI document not found at {REFERENCE_PATH} (set {REFERENCE_VARIABLE})"
        if running_in_ci():
            pytest.fail(f"{reason}; CI is set, so the conformance test must run")
        pytest.skip(reason)
    return json.loads(REFERENCE_PATH.read_text(encoding="utf-8"))


def load_ours() -> Spec:
    return yaml.safe_load(OUR_SPEC_PATH.read_text(encoding="utf-8"))


def resolve_pointer(doc: Spec, ref: str) -> Any:
    """Follow a local ``#/...`` JSON pointer (percent-encoded as in a URI fragment)."""
    if not ref.startswith("#"):
        raise ValueError(f"only local $refs are supported: {ref}")
    node: Any = doc
    for raw in unquote(ref[1:]).split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def deref(doc: Spec, node: Any, stack: tuple[str, ...] = ()) -> Any:
    """Return ``node`` with every ``$ref`` replaced by its (recursively resolved) target."""
    if isinstance(node, list):
        return [deref(doc, item, stack) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in stack:
            return CYCLE
        return deref(doc, resolve_pointer(doc, ref), (*stack, ref))
    return {key: deref(doc, value, stack) for key, value in node.items()}


def iter_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from iter_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_refs(item)


# --------------------------------------------------------------------------- operations


def operations(doc: Spec, tags: set[str] | None = None) -> dict[tuple[str, str], Spec]:
    """Operations keyed by (METHOD, path), dereferenced, with path-level parameters merged in."""
    found: dict[tuple[str, str], Spec] = {}
    for path, raw_item in doc.get("paths", {}).items():
        item = deref(doc, raw_item)
        for method in HTTP_METHODS:
            if method not in item:
                continue
            op = dict(item[method])
            if tags is not None and not tags & set(op.get("tags", [])):
                continue
            op["parameters"] = merge_parameters(item.get("parameters", []), op.get("parameters", []))
            op["security"] = effective_security(doc, op)
            found[(method.upper(), path)] = op
    return found


def merge_parameters(path_level: list[Spec], op_level: list[Spec]) -> dict[tuple[str, str], Spec]:
    """Operation-level parameters override path-level ones with the same location and name."""
    merged: dict[tuple[str, str], Spec] = {}
    for param in [*path_level, *op_level]:
        name = param["name"].lower() if param["in"] == "header" else param["name"]
        merged[(param["in"], name)] = param
    return merged


def effective_security(doc: Spec, op: Spec) -> list[list[tuple[str, str]]]:
    """Security requirements as (scheme type, scheme) pairs, so scheme names do not matter."""
    schemes = doc.get("components", {}).get("securitySchemes", {})
    requirements = op.get("security", doc.get("security", []))
    return sorted(
        sorted((schemes[name].get("type", ""), schemes[name].get("scheme", "")) for name in req)
        for req in requirements
    )


def compare_specs(ref_doc: Spec, our_doc: Spec) -> list[str]:
    diffs = list(compare_servers(ref_doc, our_doc))
    ref_ops = operations(ref_doc, TAGS)
    our_ops = operations(our_doc)
    for key in sorted(ref_ops.keys() - our_ops.keys()):
        diffs.append(f"{key[0]} {key[1]}: operation {ref_ops[key].get('operationId')} missing in ours")
    for key in sorted(our_ops.keys() - ref_ops.keys()):
        diffs.append(f"{key[0]} {key[1]}: operation {our_ops[key].get('operationId')} not in reference")
    for key in sorted(ref_ops.keys() & our_ops.keys()):
        diffs.extend(compare_operation(f"{key[0]} {key[1]}", ref_ops[key], our_ops[key]))
    return diffs


def compare_servers(ref_doc: Spec, our_doc: Spec) -> Diffs:
    ref_urls = [server["url"] for server in ref_doc.get("servers", [])]
    our_urls = [server["url"] for server in our_doc.get("servers", [])]
    if ref_urls != our_urls:
        yield f"servers: reference {ref_urls}, ours {our_urls}"


def compare_operation(where: str, ref: Spec, ours: Spec) -> Diffs:
    for key in ("operationId", "tags", "security"):
        if ref.get(key) != ours.get(key):
            yield f"{where}: {key}: reference {ref.get(key)!r}, ours {ours.get(key)!r}"
    yield from compare_parameters(where, ref["parameters"], ours["parameters"])
    yield from compare_request_body(where, ref.get("requestBody"), ours.get("requestBody"))
    yield from compare_responses(where, ref.get("responses", {}), ours.get("responses", {}))


# --------------------------------------------------------------------------- parameters


def compare_parameters(
    where: str, ref: dict[tuple[str, str], Spec], ours: dict[tuple[str, str], Spec]
) -> Diffs:
    for location, name in sorted(ref.keys() - ours.keys()):
        yield f"{where} {location} param {name}: missing in ours"
    for location, name in sorted(ours.keys() - ref.keys()):
        yield f"{where} {location} param {name}: not in reference"
    for key in sorted(ref.keys() & ours.keys()):
        param_where = f"{where} {key[0]} param {key[1]}"
        ref_shape, our_shape = parameter_shape(ref[key]), parameter_shape(ours[key])
        for field, ref_value in ref_shape.items():
            if ref_value != our_shape[field]:
                yield f"{param_where}: {field}: reference {ref_value!r}, ours {our_shape[field]!r}"
        yield from compare_schema(param_where, ref[key].get("schema"), ours[key].get("schema"))


def parameter_shape(param: Spec) -> dict[str, Any]:
    """The serialisation-relevant fields of a parameter, with OpenAPI 3.0 defaults applied."""
    location = param["in"]
    style = param.get("style", "form" if location in ("query", "cookie") else "simple")
    return {
        "required": bool(param.get("required", location == "path")),
        "style": style,
        "explode": bool(param.get("explode", style == "form")),
        "allowReserved": bool(param.get("allowReserved", False)),
        "content types": sorted(param.get("content", {})),
    }


# --------------------------------------------------------------------------- bodies and responses


def compare_request_body(where: str, ref: Spec | None, ours: Spec | None) -> Diffs:
    where = f"{where} request"
    if ref is None or ours is None:
        if ref is not ours:
            yield f"{where} body: {'missing in ours' if ours is None else 'not in reference'}"
        return
    if bool(ref.get("required", False)) != bool(ours.get("required", False)):
        yield f"{where} body: required: reference {ref.get('required')}, ours {ours.get('required')}"
    yield from compare_content(where, ref.get("content", {}), ours.get("content", {}))


def compare_responses(where: str, ref: Spec, ours: Spec) -> Diffs:
    ref_codes, our_codes = set(map(str, ref)), set(map(str, ours))
    for code in sorted(ref_codes - our_codes):
        yield f"{where} {code}: status code missing in ours"
    for code in sorted(our_codes - ref_codes):
        yield f"{where} {code}: status code not in reference"
    for code in sorted(ref_codes & our_codes):
        ref_response, our_response = lookup(ref, code), lookup(ours, code)
        code_where = f"{where} {code}"
        yield from compare_headers(
            code_where, ref_response.get("headers", {}), our_response.get("headers", {})
        )
        yield from compare_content(
            code_where, ref_response.get("content", {}), our_response.get("content", {})
        )


def lookup(responses: Spec, code: str) -> Spec:
    """YAML may load status codes as ints; JSON always has strings."""
    return responses[code] if code in responses else responses[int(code)]


def compare_headers(where: str, ref: Spec, ours: Spec) -> Diffs:
    ref_names = {name.lower(): name for name in ref}
    our_names = {name.lower(): name for name in ours}
    for name in sorted(ref_names.keys() - our_names.keys()):
        yield f"{where} header {ref_names[name]}: missing in ours"
    for name in sorted(our_names.keys() - ref_names.keys()):
        yield f"{where} header {our_names[name]}: not in reference"
    for name in sorted(ref_names.keys() & our_names.keys()):
        ref_header, our_header = ref[ref_names[name]], ours[our_names[name]]
        header_where = f"{where} header {ref_names[name]}"
        ref_required, our_required = bool(ref_header.get("required")), bool(our_header.get("required"))
        if ref_required != our_required:
            yield f"{header_where}: required: reference {ref_required}, ours {our_required}"
        yield from compare_schema(header_where, ref_header.get("schema"), our_header.get("schema"))


def compare_content(where: str, ref: Spec, ours: Spec) -> Diffs:
    for media_type in sorted(ref.keys() - ours.keys()):
        yield f"{where}: content type {media_type} missing in ours"
    for media_type in sorted(ours.keys() - ref.keys()):
        yield f"{where}: content type {media_type} not in reference"
    only_json = set(ref) == {"application/json"}
    for media_type in sorted(ref.keys() & ours.keys()):
        body_where = f"{where} body" if only_json else f"{where} {media_type} body"
        yield from compare_schema(body_where, ref[media_type].get("schema"), ours[media_type].get("schema"))


# --------------------------------------------------------------------------- schemas


def normalize_schema(schema: Any) -> Any:
    """Merge allOf parts and unwrap a one-element oneOf/anyOf; leave everything else as is."""
    if not isinstance(schema, dict):
        return schema
    schema = dict(schema)
    for part in schema.pop("allOf", []):
        schema = merge_schemas(schema, normalize_schema(part))
    for keyword in ("oneOf", "anyOf"):
        alternatives = schema.get(keyword)
        if isinstance(alternatives, list) and len(alternatives) == 1:
            del schema[keyword]
            schema = merge_schemas(schema, normalize_schema(alternatives[0]))
    return schema


def merge_schemas(base: Spec, extra: Spec) -> Spec:
    merged = {**extra, **base}
    if "properties" in base or "properties" in extra:
        merged["properties"] = {**extra.get("properties", {}), **base.get("properties", {})}
    if "required" in base or "required" in extra:
        merged["required"] = sorted(set(base.get("required", [])) | set(extra.get("required", [])))
    return merged


def additional_properties(schema: Spec) -> Any:
    """``None`` for "anything goes" (absent, true or {}), else ``False`` or a schema."""
    value = schema.get("additionalProperties", True)
    if value is True or value == {}:
        return None
    return value


def compare_schema(where: str, ref: Any, ours: Any) -> Diffs:
    if ref is None or ours is None:
        if ref is not ours:
            yield f"{where}: schema {'missing in ours' if ours is None else 'not in reference'}"
        return
    ref, ours = normalize_schema(ref), normalize_schema(ours)
    if ref == CYCLE or ours == CYCLE:
        if ref != ours:
            yield f"{where}: recursive in one spec only"
        return
    yield from compare_scalars(where, ref, ours)
    yield from compare_enum(where, ref.get("enum"), ours.get("enum"))
    yield from compare_properties(where, ref, ours)
    yield from compare_subschema(f"{where}[]", ref.get("items"), ours.get("items"))
    yield from compare_additional_properties(where, ref, ours)
    for keyword in ("oneOf", "anyOf"):
        yield from compare_alternatives(where, keyword, ref.get(keyword), ours.get(keyword))
    yield from compare_subschema(f"{where}<not>", ref.get("not"), ours.get("not"))


def compare_subschema(where: str, ref: Any, ours: Any) -> Diffs:
    if ref is None and ours is None:
        return
    yield from compare_schema(where, ref, ours)


def compare_scalars(where: str, ref: Spec, ours: Spec) -> Diffs:
    for keyword in SCALAR_KEYWORDS:
        if ref.get(keyword) != ours.get(keyword):
            yield f"{where}: {keyword}: reference {ref.get(keyword)!r}, ours {ours.get(keyword)!r}"


def compare_enum(where: str, ref: list[Any] | None, ours: list[Any] | None) -> Diffs:
    if ref is None or ours is None:
        if ref is not ours:
            yield f"{where}: enum: reference {ref!r}, ours {ours!r}"
        return
    missing = [value for value in ref if value not in ours]
    extra = [value for value in ours if value not in ref]
    if missing:
        yield f"{where}: enum values missing in ours: {missing!r}"
    if extra:
        yield f"{where}: enum values not in reference: {extra!r}"


def compare_properties(where: str, ref: Spec, ours: Spec) -> Diffs:
    ref_props, our_props = ref.get("properties", {}), ours.get("properties", {})
    for name in sorted(ref_props.keys() - our_props.keys()):
        yield f"{where}.{name}: property missing in ours"
    for name in sorted(our_props.keys() - ref_props.keys()):
        yield f"{where}.{name}: property not in reference"
    ref_required, our_required = set(ref.get("required", [])), set(ours.get("required", []))
    for name in sorted(ref_required - our_required):
        yield f"{where}.{name}: required in reference, optional in ours"
    for name in sorted(our_required - ref_required):
        yield f"{where}.{name}: optional in reference, required in ours"
    for name in sorted(ref_props.keys() & our_props.keys()):
        yield from compare_schema(f"{where}.{name}", ref_props[name], our_props[name])


def compare_additional_properties(where: str, ref: Spec, ours: Spec) -> Diffs:
    ref_extra, our_extra = additional_properties(ref), additional_properties(ours)
    if isinstance(ref_extra, dict) and isinstance(our_extra, dict):
        yield from compare_schema(f"{where}{{*}}", ref_extra, our_extra)
    elif ref_extra != our_extra:
        yield f"{where}: additionalProperties: reference {ref_extra!r}, ours {our_extra!r}"


def compare_alternatives(where: str, keyword: str, ref: list[Any] | None, ours: list[Any] | None) -> Diffs:
    if ref is None and ours is None:
        return
    ref_count, our_count = len(ref or []), len(ours or [])
    if ref is None or ours is None or ref_count != our_count:
        yield f"{where}: {keyword}: reference has {ref_count} alternatives, ours {our_count}"
        return
    for index, (ref_alt, our_alt) in enumerate(
        zip(sorted(ref, key=alternative_key), sorted(ours, key=alternative_key), strict=True)
    ):
        yield from compare_schema(f"{where}<{keyword}[{index}]>", ref_alt, our_alt)


def alternative_key(schema: Any) -> str:
    """Order oneOf/anyOf alternatives by what they are, not by where they were written."""
    schema = normalize_schema(schema)
    if not isinstance(schema, dict):
        return json.dumps(schema, sort_keys=True, default=str)
    return json.dumps([str(schema.get("type", "")), sorted(schema.get("properties", {}))])


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def reference() -> Spec:
    return load_reference()


@pytest.fixture(scope="module")
def ours() -> Spec:
    return load_ours()


def report(diffs: list[str]) -> str:
    return f"{len(diffs)} difference(s) between our spec and the reference:\n  " + "\n  ".join(diffs)


def test_spec_matches_reference(reference: Spec, ours: Spec) -> None:
    diffs = [diff for diff in compare_specs(reference, ours) if diff not in NEWER_THAN_REFERENCE]
    assert not diffs, report(diffs)


def test_reference_still_has_the_fifteen_operations(reference: Spec) -> None:
    found = {op.get("operationId") for op in operations(reference, TAGS).values()}
    assert found == OPERATION_IDS


def test_our_spec_has_exactly_the_fifteen_operations(ours: Spec) -> None:
    found = sorted(str(op.get("operationId")) for op in operations(ours).values())
    assert len(found) == len(set(found)), f"duplicate operationIds: {found}"
    assert set(found) == OPERATION_IDS, (
        f"missing: {sorted(OPERATION_IDS - set(found))}, extra: {sorted(set(found) - OPERATION_IDS)}"
    )


def test_our_spec_only_refers_to_components(ours: Spec) -> None:
    refs = set(iter_refs(ours))
    assert refs, "expected our spec to use named components"
    bad = sorted(ref for ref in refs if not ref.startswith("#/components/"))
    assert not bad, f"$refs outside #/components/: {bad}"
    for ref in sorted(refs):
        resolve_pointer(ours, ref)  # raises KeyError if dangling


def test_resolver_follows_pointers_into_paths_and_properties() -> None:
    doc = {
        "paths": {"/a/{b}": {"get": {"x": {"type": "integer"}}}},
        "components": {
            "schemas": {
                "Outer": {"properties": {"inner": {"$ref": "#/paths/~1a~1%7Bb%7D/get/x"}}},
                "Uses": {"$ref": "#/components/schemas/Outer/properties/inner"},
                "Loop": {"properties": {"self": {"$ref": "#/components/schemas/Loop"}}},
            }
        },
    }
    assert deref(doc, {"$ref": "#/components/schemas/Uses"}) == {"type": "integer"}
    assert deref(doc, {"$ref": "#/components/schemas/Loop"}) == {"properties": {"self": CYCLE}}


def _drop_required_attempt_field(spec: Spec) -> None:
    spec["components"]["schemas"]["TaskAttempt"]["required"].remove("startedAt")


def _drop_enum_value(spec: Spec) -> None:
    spec["components"]["schemas"]["TaskRunStatus"]["enum"].remove("paused")


def _drop_status_code(spec: Spec) -> None:
    responses = spec["paths"]["/task-runs/{taskRunId}"]["delete"]["responses"]
    del responses["503"]


def _change_property_type(spec: Spec) -> None:
    spec["components"]["schemas"]["TaskRun"]["properties"]["retries"] = {"type": "string"}


def _explode_owner_filter(spec: Spec) -> None:
    spec["components"]["parameters"]["OwnerIdFilter"]["explode"] = True


def _rename_operation(spec: Spec) -> None:
    spec["paths"]["/tasks/{taskId}"]["get"]["operationId"] = "fetchTask"


def _drop_oneof_alternative(spec: Spec) -> None:
    spec["components"]["schemas"]["TaskData"]["oneOf"].pop()


# Each mutation of our spec and the start of the difference the comparator must report for it.
MUTATIONS: list[tuple[Any, str]] = [
    (
        _drop_required_attempt_field,
        "GET /task-runs 200 body[].taskRun.attempts[].startedAt: required in reference, optional in ours",
    ),
    (
        _drop_enum_value,
        "GET /task-runs/{taskRunId} 200 body.status: enum values missing in ours: ['paused']",
    ),
    (_drop_status_code, "DELETE /task-runs/{taskRunId} 503: status code missing in ours"),
    (_change_property_type, "POST /task-runs 202 body.retries: type: reference 'integer', ours 'string'"),
    (_explode_owner_filter, "GET /tasks query param ownerId: explode: reference False, ours True"),
    (_rename_operation, "GET /tasks/{taskId}: operationId: reference 'getTask', ours 'fetchTask'"),
    (_drop_oneof_alternative, "POST /task-runs request body.input: oneOf"),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), MUTATIONS, ids=[mutate.__name__.lstrip("_") for mutate, _ in MUTATIONS]
)
def test_comparator_reports_mutations(reference: Spec, ours: Spec, mutate: Any, expected: str) -> None:
    mutated = copy.deepcopy(ours)
    mutate(mutated)
    diffs = compare_specs(reference, mutated)
    assert any(diff.startswith(expected) for diff in diffs), report(diffs)
