"""The query API's OpenAPI document, as `inventory openapi` prints it (docs/openapi.json)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from inventory import config
from query_api.reads import Item, Key
from query_api.routes import build_app

TITLE = "Inventory query API"
VERSION = "1.0.0"
DESCRIPTION = (
    "The dashboard's read-only API over the inventory pipeline's tables. Every route needs "
    "`Authorization: Bearer <access token>` from the Cognito user pool."
)
SECURITY_SCHEME = "cognitoJwt"
# Powertools documents its own validation error; this API answers 400 `{"message"}` instead.
_UNUSED_RESPONSES = ("422",)
_UNUSED_SCHEMAS = ("HTTPValidationError", "ValidationError")


class _NoReads:
    """The routes are only described, never run: nothing is read."""

    def _none(self, *args: object) -> Iterator[Item]:
        raise NotImplementedError("the OpenAPI document reads nothing")

    def stores(self, start: Key | None, page_size: int) -> Iterator[Item]:
        return self._none()

    def store_items(self, store: str, start: Key | None, page_size: int) -> Iterator[Item]:
        return self._none()

    def out_of_stock(self, start: Key | None, page_size: int) -> Iterator[Item]:
        return self._none()

    def receipts_on(self, day: str, start: Key | None, page_size: int) -> Iterator[Item]:
        return self._none()


def openapi_document() -> dict[str, Any]:
    """The document as a dict: the routes, their answers, and the bearer JWT on all of them."""
    app = build_app(_NoReads(), Logger(service=config.QUERY_SERVICE))
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description=DESCRIPTION,
            security_schemes={
                SECURITY_SCHEME: HTTPBearer(
                    bearerFormat="JWT", description="a Cognito user pool access token"
                )
            },
            security=[{SECURITY_SCHEME: []}],
        )
    )
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for code in _UNUSED_RESPONSES:
                operation.get("responses", {}).pop(code, None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in _UNUSED_SCHEMAS:
        schemas.pop(name, None)
    return document


def openapi_text() -> str:
    """The document exactly as committed: indented JSON with a final newline."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"
