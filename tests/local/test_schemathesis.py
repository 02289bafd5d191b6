"""A schemathesis run of the local API against ``openapi/render-public-api.yaml``, in-process, bounded.

Every operation gets a few generated requests (valid and invalid); no answer may be a 500, and every answer
with a status the spec documents must match its schema. The four operations that need Render's cloud (create,
update and delete a workflow, create a version) answer 405 locally by design and are left out. Event streams
end at once (``closing`` is set): generated runs never finish here, since no worker runs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.local.inprocess import local_api

SPEC = Path(__file__).resolve().parents[2] / "openapi" / "render-public-api.yaml"
CLOUD_ONLY = ("createWorkflow", "updateWorkflow", "deleteWorkflow", "createWorkflowVersion")

closing = asyncio.Event()
closing.set()
app, _ = local_api(extra_hosts=("testserver",), closing=closing)
schema = schemathesis.openapi.from_path(SPEC)
schema.app = app
schema.base_url = "http://testserver/v1"
for operation_id in CLOUD_ONLY:
    schema = schema.exclude(operation_id=operation_id)


@schema.parametrize()
@settings(max_examples=4, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_local_api_conforms_to_the_spec(case: Any) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text)
    case.validate_response(response, checks=[response_schema_conformance])
