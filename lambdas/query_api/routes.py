"""The query API's routes (docs/design.md, "The query API"), on any `InventoryReads`.

`build_app` returns the powertools resolver: the handler builds it on DynamoDB at cold
start, the tests on an in-memory fake, and `inventory openapi` reads its OpenAPI document.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Annotated, Any
from urllib.parse import quote, unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponse,
    OpenAPIResponseHeader,
)

from inventory import config
from query_api import models
from query_api.pages import (
    MAX_TOKEN_CHARS,
    TOKEN_PATTERN,
    BadParameterError,
    Position,
    decode,
    encode,
    key_of,
    take,
)
from query_api.reads import (
    ITEM_KEY,
    OUT_OF_STOCK_KEY,
    RECEIPT_KEY,
    STORE_KEY,
    InventoryReads,
    Item,
    Key,
    ReadFailedError,
)

DEFAULT_LIMIT = 50
MAX_STORE_CHARS = 1024  # a DynamoDB partition key holds at most 2048 bytes
MAX_LIMIT = 100
RECEIPT_DAYS = 7  # GET /receipts looks at today and the 6 days before (UTC)
ETAG_HEX_DIGITS = 32
CACHE_CONTROL = "private, no-cache"  # a browser may keep a page, but asks (If-None-Match) first

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"items per page, 1-{MAX_LIMIT}")]
Next = Annotated[
    str,
    Query(
        alias="next",
        max_length=MAX_TOKEN_CHARS,
        pattern=TOKEN_PATTERN,
        description="the `next` token of the previous page (none: the first page)",
    ),
]
PAGING = ("limit", "next")  # the query parameters of every list
StoreInPath = Annotated[
    str, Path(min_length=1, max_length=MAX_STORE_CHARS, description="the store's name")
]
StoreName = Annotated[
    str, Query(min_length=1, max_length=MAX_STORE_CHARS, description="the store's name")
]
Read = Callable[[Key | None, int], Iterator[Item]]


ETAG_HEADER: dict[str, OpenAPIResponseHeader] = {
    "ETag": {"description": "a hash of the body", "schema": {"type": "string"}}
}
MESSAGE: dict[str, Any] = {content_types.APPLICATION_JSON: {"model": models.Message}}
# Declared on every route; the 200's body is the route's return type. Powertools adds a 422
# of its own, which this API never answers (`openapi_document` drops it).
RESPONSES: dict[int, OpenAPIResponse] = {
    200: {"description": "one page", "headers": ETAG_HEADER},
    304: {
        "description": "not modified: the ETag sent in If-None-Match is still current",
        "headers": ETAG_HEADER,
        "content": {},
    },
    400: {"description": "a bad parameter; the message names it", "content": MESSAGE},
    401: {"description": "no token or a bad one (from the authorizer)", "content": MESSAGE},
    # Answered in front of the function (API Gateway, or the emulator's HTTP server).
    414: {"description": "the URL is too long (from the gateway)"},
    431: {"description": "the request line or headers are too large (from the gateway)"},
    500: {"description": "an unexpected error", "content": MESSAGE},
    503: {"description": "the tables did not answer; try again", "content": MESSAGE},
}


def utc_today() -> date:
    return datetime.now(UTC).date()


def build_app(
    reads: InventoryReads, logger: Logger, today: Callable[[], date] = utc_today
) -> APIGatewayHttpResolver:
    """The resolver with every route, reading through `reads`."""
    app = APIGatewayHttpResolver(enable_validation=True)
    app.use(middlewares=[with_etag])
    _handle_errors(app, logger)

    @app.get(
        "/stores",
        operation_id="listStores",
        summary="every store's summary",
        responses=RESPONSES,
        middlewares=[takes(*PAGING)],
    )
    def stores(limit: Limit = DEFAULT_LIMIT, next_token: Next = "") -> models.StoresPage:
        items, following = page(reads.stores, STORE_KEY, limit, next_token)
        return models.StoresPage(stores=[models.store_of(i) for i in items], next=following)

    @app.get(
        "/stores/<store>/items",
        operation_id="listStoreItems",
        summary="one store's items, in key order",
        responses=RESPONSES,
        middlewares=[takes(*PAGING)],
    )
    def store_items(
        store: StoreInPath, limit: Limit = DEFAULT_LIMIT, next_token: Next = ""
    ) -> models.StoreItemsPage:
        # API Gateway decodes the parameter; without it, the route matched the path `routable`
        # encoded, so the match is decoded here.
        store = app.current_event.path_parameters.get("store") or unquote(store)
        return store_items_page(store, limit, next_token)

    @app.get(
        "/items",
        operation_id="listItemsOfStore",
        summary="one store's items, in key order, for any store name (the store in the query)",
        description="The same answer as `GET /stores/{store}/items`. A store whose name holds "
        "a `/` cannot be named in a path segment (API Gateway decodes `%2F` before it routes), "
        "so the dashboard asks here.",
        responses=RESPONSES,
        middlewares=[takes("store", *PAGING)],
    )
    def items_of_store(
        store: StoreName, limit: Limit = DEFAULT_LIMIT, next_token: Next = ""
    ) -> models.StoreItemsPage:
        return store_items_page(store, limit, next_token)

    def store_items_page(store: str, limit: int, next_token: str) -> models.StoreItemsPage:
        def read(start: Key | None, size: int) -> Iterator[Item]:
            if start is not None and start[config.ATTR_STORE] != store:
                raise BadParameterError("next", "not a token of this store's list")
            return reads.store_items(store, start, size)

        items, following = page(read, ITEM_KEY, limit, next_token)
        return models.StoreItemsPage(
            store=store, items=[models.store_item_of(i) for i in items], next=following
        )

    @app.get(
        "/out-of-stock",
        operation_id="listOutOfStock",
        summary="every item at 0",
        responses=RESPONSES,
        middlewares=[takes(*PAGING)],
    )
    def out_of_stock(limit: Limit = DEFAULT_LIMIT, next_token: Next = "") -> models.OutOfStockPage:
        items, following = page(reads.out_of_stock, OUT_OF_STOCK_KEY, limit, next_token)
        return models.OutOfStockPage(
            items=[models.out_of_stock_of(i) for i in items], next=following
        )

    @app.get(
        "/receipts",
        operation_id="listReceipts",
        summary="the receipts of the last 7 days, newest first",
        responses=RESPONSES,
        middlewares=[takes(*PAGING)],
    )
    def recent_receipts(limit: Limit = DEFAULT_LIMIT, next_token: Next = "") -> models.ReceiptsPage:
        items, following = receipts_page(reads, today(), limit, next_token)
        return models.ReceiptsPage(receipts=[models.receipt_of(i) for i in items], next=following)

    return app


def routable(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its path percent-encoded again for routing.

    HTTP APIs hand the function the path decoded, and powertools matches a path parameter
    only against some characters: a store named `Café ☕ "Nord"` would not be found.
    """
    return {**event, "rawPath": quote(str(event.get("rawPath") or "/"), safe="/")}


def page(
    read: Read, key_names: Sequence[str], limit: int, token: str
) -> tuple[list[Item], str | None]:
    """One page of a read, from where `token` says, and the token of the next (if any)."""
    start = decode(token, key_names).key if token else None
    items, more = take(read(start, limit + 1), limit)
    return items, encode(Position(key_of(items[-1], key_names))) if more else None


def receipts_page(
    reads: InventoryReads, today: date, limit: int, token: str
) -> tuple[list[Item], str | None]:
    """Receipts newest first, walking RecentReceipts day by day back to RECEIPT_DAYS - 1 days
    before today; the token holds the day of the page's last receipt and its key."""
    oldest = today - timedelta(days=RECEIPT_DAYS - 1)
    day, start = today, None
    if token:
        position = decode(token, RECEIPT_KEY, with_day=True)
        day, start = min(date.fromisoformat(str(position.day)), today), position.key
    found: list[tuple[date, Item]] = []  # one more than a page, to know whether more follow
    while day >= oldest and len(found) <= limit:
        wanted = limit + 1 - len(found)
        items = islice(reads.receipts_on(day.isoformat(), start, wanted), wanted)
        found.extend((day, item) for item in items)
        day, start = day - timedelta(days=1), None
    shown = found[:limit]
    if len(found) <= limit:
        return [item for _, item in shown], None
    last_day, last = shown[-1]
    following = encode(Position(key_of(last, RECEIPT_KEY), last_day.isoformat()))
    return [item for _, item in shown], following


def takes(*names: str) -> Callable[[APIGatewayHttpResolver, NextMiddleware], Response]:
    """A route middleware: a query parameter the route does not take is a 400 naming it
    (a typo such as `?limt=5` would otherwise be ignored in silence)."""
    allowed = frozenset(names)

    def only_known(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
        unknown = sorted(set(app.current_event.query_string_parameters or {}) - allowed)
        if unknown:
            raise BadParameterError(
                unknown[0], f"not a parameter of this route (it takes {', '.join(sorted(allowed))})"
            )
        return next_middleware(app)

    return only_known


def with_etag(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """Give a 200 its ETag (a hash of the body); answer 304 when If-None-Match has it."""
    response = next_middleware(app)
    if response.status_code != 200 or not response.is_json():
        return response
    body = response.body
    if not isinstance(body, str):  # validated, so plain JSON values: serialized once, here
        body = json.dumps(body, separators=(",", ":"))
    tag = f'"{hashlib.sha256(body.encode()).hexdigest()[:ETAG_HEX_DIGITS]}"'
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL}
    if tag in _tags(app.current_event.headers.get("if-none-match") or ""):
        return Response(status_code=304, headers=headers, body="")
    response.body = body
    response.headers.update(headers)
    return response


def _tags(if_none_match: str) -> set[str]:
    """The entity tags an If-None-Match names (weak ones compare equal, RFC 9110)."""
    return {t.strip().removeprefix("W/") for t in if_none_match.split(",") if t.strip()}


def _message(status: int, message: str) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"message": message},
    )


def _handle_errors(app: APIGatewayHttpResolver, logger: Logger) -> None:
    """Every failure answers `{"message": ...}`, and none tells how the API is built."""

    @app.exception_handler(RequestValidationError)
    def invalid(exc: RequestValidationError) -> Response:
        problems = [
            f"{e['loc'][-1]}: {e.get('msg', 'invalid')}" if e.get("loc") else e.get("msg", "")
            for e in exc.errors()
        ]
        return _message(400, "; ".join(problems) or "invalid request")

    @app.exception_handler(BadParameterError)
    def bad_parameter(exc: BadParameterError) -> Response:
        return _message(400, str(exc))

    @app.exception_handler(ReadFailedError)
    def read_failed(exc: ReadFailedError) -> Response:
        logger.warning("read failed", extra={"error": str(exc)})
        return _message(503, "the inventory is not available right now; try again shortly")

    @app.not_found
    def not_found(exc: NotFoundError) -> Response:
        return _message(404, "no such route")

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response:
        logger.exception("unexpected error")
        return _message(500, "internal error")
