"""The service's published OpenAPI document against what it really sends.

Schemathesis generates requests from ``/openapi.json`` (valid ones and, for the one operation
with a body, invalid ones), sends them to a live service on 127.0.0.1 for each backend, and
checks every reply against the document: its status code is documented, its content type is
documented for that status, a JSON body matches the documented schema, and nothing is a 5xx.
A client generated from the document trusts exactly these.

The cases come from Schemathesis' Python API (``as_strategy``) run by Hypothesis inside each
test, rather than from ``schemathesis.pytest.from_fixture``: that integration sets
``Function._nodeid``, which pytest 9.2 no longer has.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from ganlab.deploy.backends import load_backend
from ganlab.deploy.service import create_app
from tests.service_helpers import live_server

OPERATIONS = {"GET /healthz", "GET /v1/model", "POST /v1/generate"}
# Generated cases per operation and mode: enough to reach every status code and media type of
# /v1/generate (200 as PNG, NPZ and JSON, 413, 422 from validation and from the service's own
# checks) in a few seconds on one core.
MAX_EXAMPLES = 60
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module", params=["onnxruntime", "torch"])
def api_schema(request, trained_checkpoint: Path, trained_onnx: Path):
    """The document as a live service publishes it, its base URL that service's."""
    model = trained_onnx if request.param == "onnxruntime" else trained_checkpoint
    # Small caps, so generated requests often reach the 413 and the "too many images" 422 and
    # the 200s stay cheap.
    app = create_app(load_backend(model), max_images=8, batch_window_ms=0.0, max_body_bytes=1024)
    with live_server(app) as url:
        config = SchemathesisConfig.from_dict({"seed": 0})
        yield schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)


def test_the_document_lists_every_operation(api_schema) -> None:
    labels = {result.ok().label for result in api_schema.get_all_operations()}
    assert labels == OPERATIONS, "a new route needs a row in OPERATIONS and the cases below"


@pytest.mark.parametrize(
    ("label", "mode"),
    [
        ("GET /healthz", GenerationMode.POSITIVE),
        ("GET /v1/model", GenerationMode.POSITIVE),
        ("POST /v1/generate", GenerationMode.POSITIVE),
        ("POST /v1/generate", GenerationMode.NEGATIVE),
    ],
)
def test_replies_are_what_the_document_says(api_schema, label: str, mode: GenerationMode) -> None:
    method, path = label.split(" ")
    operation = api_schema[path][method]
    statuses: set[int] = set()

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def replies_as_documented(case) -> None:
        response = case.call_and_validate(checks=CHECKS, timeout=30)
        statuses.add(response.status_code)

    replies_as_documented()
    if label == "POST /v1/generate":
        # The generated cases reached the error replies, which the document once had wrong;
        # a run that saw only 200s would prove nothing about the error model.
        expected = {200, 422} if mode is GenerationMode.POSITIVE else {422}
        assert expected <= statuses, statuses


JSON = "application/json"


@pytest.mark.parametrize(
    ("body", "media_type", "status"),
    [
        ({"labels": [1, 2], "format": "png"}, JSON, 200),
        ({"labels": [1, 2], "format": "npz"}, JSON, 200),
        ({"labels": [1, 2], "format": "json"}, JSON, 200),
        ({"labels": 10}, JSON, 422),
        ({"labels": 1, "n": 9}, JSON, 422),
        ({"labels": list(range(10)) * 60}, JSON, 413),
        (b'{"labels": 1', JSON, 422),
        (b'{"labels": "\xff"}', JSON, 400),
        (b"labels=1", "application/x-www-form-urlencoded", 422),
    ],
    ids=["png", "npz", "json", "label", "too-many", "too-big", "truncated", "not-utf8", "form"],
)
def test_each_kind_of_reply_is_as_documented(api_schema, body, media_type, status) -> None:
    """Every status and media type the service sends, each at least once whatever is generated."""
    operation = api_schema["/v1/generate"]["POST"]
    if isinstance(body, bytes):
        case = operation.Case(body=body, media_type="application/octet-stream")
        case.headers = {"Content-Type": media_type}
    else:
        case = operation.Case(body=body, media_type=media_type)
    response = case.call_and_validate(checks=CHECKS, timeout=30)
    assert response.status_code == status, response.text
