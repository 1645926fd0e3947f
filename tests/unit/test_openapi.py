"""The committed OpenAPI document is the one the query API's code generates."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from harness import openapi
from query_api.document import openapi_document, openapi_text

pytestmark = pytest.mark.unit

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
ROUTES = {"/stores", "/stores/{store}/items", "/items", "/out-of-stock", "/receipts"}


def test_the_committed_document_is_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == openapi_text(), (
        "docs/openapi.json differs from what the query API generates; rewrite it with "
        "`.venv/bin/inventory openapi > docs/openapi.json` and commit it"
    )


def test_every_route_is_documented_behind_the_bearer_jwt() -> None:
    document = openapi_document()

    assert set(document["paths"]) == ROUTES
    assert document["security"] == [{"cognitoJwt": []}]
    scheme = document["components"]["securitySchemes"]["cognitoJwt"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    for route in document["paths"].values():
        responses = route["get"]["responses"]
        assert {"200", "304", "400", "401", "503"} <= set(responses)
        assert "422" not in responses  # validation errors are answered 400
        assert "ETag" in responses["200"]["headers"]


def test_the_limit_is_documented_with_its_bounds() -> None:
    parameters = openapi_document()["paths"]["/stores"]["get"]["parameters"]
    limit = next(p for p in parameters if p["name"] == "limit")

    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)
    assert limit["schema"]["default"] == 50


def test_inventory_openapi_prints_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    openapi.add_arguments(parser)

    assert openapi.command(parser.parse_args([])) == 0
    assert json.loads(capsys.readouterr().out) == openapi_document()
