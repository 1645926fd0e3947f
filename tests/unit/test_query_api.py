"""The query API through its resolver, on API Gateway HTTP API events and in-memory reads."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any, cast

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from inventory import config, receipts, summaries
from inventory.csv_format import RowError
from inventory.receipts import Receipt
from inventory.settings import MissingSettingError
from inventory.summaries import StoreSummary
from query_api.pages import Position, encode
from query_api.routes import build_app, routable
from query_api.settings import QuerySettings
from tests.support.events import FakeLambdaContext, http_api_event
from tests.support.fakes import InMemoryReads

pytestmark = pytest.mark.unit

CONTEXT = cast(LambdaContext, FakeLambdaContext())
TODAY = date(2024, 5, 8)
HOSTILE = "<img src=x onerror=alert(1)>"
ODD_STORES = ["New York", "Café ☕ Zürich", "Köln, Nord", HOSTILE, '100% "Main" #1?']


def inventory_item(store: str, item: str, count: int, updated_at: str = "2024-05-08T10:00") -> dict:
    """An Inventory item as the resource layer reads it (numbers as Decimal)."""
    found: dict[str, Any] = {
        config.ATTR_STORE: store,
        config.ATTR_ITEM: item,
        config.ATTR_COUNT: Decimal(count),
        config.ATTR_UPDATED_AT: updated_at,
        config.ATTR_SOURCE_KEY: f"uploads/{store}.csv",
        config.ATTR_VERSION: "v",
    }
    if count == 0:
        found[config.ATTR_OUT_OF_STOCK_STORE] = store
    return found


def receipt_item(key: str, processed_at: str, **fields: Any) -> dict[str, Any]:
    receipt = Receipt(
        object_key=key,
        receipt_id=f"id-{key}",
        status=fields.pop("status", receipts.LOADED),
        rows_written=fields.pop("rows_written", 3),
        rows_rejected=fields.pop("rows_rejected", 0),
        event_time="2024-05-01T09:59:59Z",
        processed_at=processed_at,
        duration_ms=12.5,
        **fields,
    )
    return receipts.to_item(receipt)


def summary_item(store: str, items: int = 3, out: int = 1) -> dict[str, Any]:
    item = summaries.to_item(StoreSummary(store, items, out, "2024-05-08T10:00", "2024-05-08T10"))
    return {k: Decimal(v) if isinstance(v, int) else v for k, v in item.items()}


class Api:
    """The resolver on in-memory reads; `get` answers like API Gateway would pass it on."""

    def __init__(self, reads: InMemoryReads) -> None:
        self.reads = reads
        self.app = build_app(reads, Logger(service="query-test"), today=lambda: TODAY)

    def get(
        self,
        path: str,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        path_parameters: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        event = http_api_event(path, query, headers, path_parameters)
        response: dict[str, Any] = self.app.resolve(routable(event), CONTEXT)
        return response

    def json(self, path: str, query: dict[str, str] | None = None, **kwargs: Any) -> Any:
        response = self.get(path, query, **kwargs)
        assert response["statusCode"] == 200, response
        return json.loads(response["body"])

    def all_pages(self, path: str, field: str, limit: int) -> list[list[Any]]:
        """Every page of a list, following `next` to the end."""
        pages, query = [], {"limit": str(limit)}
        while True:
            body = self.json(path, query)
            pages.append(body[field])
            if "next" not in body:
                return pages
            query = {"limit": str(limit), "next": body["next"]}


@pytest.fixture
def reads() -> InMemoryReads:
    return InMemoryReads(
        inventory=[
            inventory_item("Berlin", "Pears", 4),
            inventory_item("Berlin", "Apples", 0, "2024-05-08T11:00"),
            inventory_item("Berlin", "Figs", 12),
            inventory_item("Köln", "Plums", 0),
        ],
        receipts=[
            receipt_item("a.csv", "2024-05-08T09:00:00.000+00:00"),
            receipt_item("b.csv", "2024-05-08T10:00:00.000+00:00"),
            receipt_item("c.csv", "2024-05-06T10:00:00.000+00:00", rows_stale=2),
            receipt_item(
                "bad.csv",
                "2024-05-07T10:00:00.000+00:00",
                status=receipts.REJECTED,
                rows_written=0,
                reason="empty file",
            ),
            receipt_item("old.csv", "2024-04-30T10:00:00.000+00:00"),  # 8 days ago: not shown
        ],
        summaries=[summary_item("Berlin", 3, 1), summary_item("Köln", 1, 1)],
    )


@pytest.fixture
def api(reads: InMemoryReads) -> Api:
    return Api(reads)


# --- each route's answer -------------------------------------------------------------------


def test_stores_lists_each_summary_with_integer_counts(api: Api) -> None:
    assert api.json("/stores") == {
        "stores": [
            {"store": "Berlin", "items": 3, "out_of_stock": 1, "updated_at": "2024-05-08T10:00"},
            {"store": "Köln", "items": 1, "out_of_stock": 1, "updated_at": "2024-05-08T10:00"},
        ]
    }


def test_a_stores_items_come_in_key_order(api: Api) -> None:
    body = api.json("/stores/Berlin/items")

    assert body["store"] == "Berlin"
    assert [i["item"] for i in body["items"]] == ["Apples", "Figs", "Pears"]
    assert body["items"][0] == {
        "item": "Apples",
        "count": 0,
        "updated_at": "2024-05-08T11:00",
        "source_key": "uploads/Berlin.csv",
    }
    assert "next" not in body


def test_out_of_stock_lists_the_items_at_zero_with_their_store(api: Api) -> None:
    assert api.json("/out-of-stock") == {
        "items": [
            {
                "store": "Berlin",
                "item": "Apples",
                "count": 0,
                "updated_at": "2024-05-08T11:00",
                "source_key": "uploads/Berlin.csv",
            },
            {
                "store": "Köln",
                "item": "Plums",
                "count": 0,
                "updated_at": "2024-05-08T10:00",
                "source_key": "uploads/Köln.csv",
            },
        ]
    }


def test_receipts_are_newest_first_over_the_last_seven_days(api: Api) -> None:
    body = api.json("/receipts")

    assert [r["key"] for r in body["receipts"]] == ["b.csv", "a.csv", "bad.csv", "c.csv"]
    assert body["receipts"][2] == {
        "key": "bad.csv",
        "status": "rejected",
        "rows_written": 0,
        "rows_rejected": 0,
        "rows_stale": 0,
        "reason": "empty file",
        "errors": [],
        "event_time": "2024-05-01T09:59:59Z",
        "processed_at": "2024-05-07T10:00:00.000+00:00",
        "superseded": False,
    }
    assert body["receipts"][3]["rows_stale"] == 2


def test_a_receipts_rejected_rows_are_listed(reads: InMemoryReads) -> None:
    reads.receipts = [
        receipt_item(
            "x.csv", "2024-05-08T09:00:00.000+00:00", rows_rejected=1, errors=(RowError(3, "bad"),)
        )
    ]

    body = Api(reads).json("/receipts")

    assert body["receipts"][0]["errors"] == [{"line": 3, "reason": "bad"}]


@pytest.mark.parametrize("store", ODD_STORES)
@pytest.mark.parametrize("gateway_parameters", [True, False])
def test_any_store_name_is_found_and_returned_as_data(
    reads: InMemoryReads, store: str, gateway_parameters: bool
) -> None:
    # Given a store whose name has spaces, non-ASCII, commas, quotes or markup
    reads.inventory.append(inventory_item(store, "Tea", 0))
    params = {"store": store} if gateway_parameters else None

    # When its items are asked for (the path as an HTTP API hands it over: decoded)
    response = Api(reads).get(f"/stores/{store}/items", path_parameters=params)

    # Then it is found, and its name comes back as a JSON string, nothing more
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    body = json.loads(response["body"])
    assert body["store"] == store
    assert [i["item"] for i in body["items"]] == ["Tea"]


@pytest.mark.parametrize("store", [*ODD_STORES, "Nord/Süd", "</b>", "a/b/c"])
def test_items_by_query_answer_for_any_name_even_one_with_a_slash(
    reads: InMemoryReads, store: str
) -> None:
    # Given a store whose name could not travel in a path segment
    reads.inventory.append(inventory_item(store, "Tea", 0))

    # When its items are asked for with the store in the query
    body = Api(reads).json("/items", {"store": store})

    # Then it is the same answer the path route gives
    assert body == {"store": store, "items": [body["items"][0]]}
    assert body["items"][0]["item"] == "Tea"


@pytest.mark.parametrize("path", ["/stores", "/stores/Berlin/items", "/out-of-stock", "/receipts"])
def test_a_parameter_the_route_does_not_take_is_a_400_naming_it(api: Api, path: str) -> None:
    message = bad_request(api, path, {"limt": "5"})

    assert message.startswith("limt: not a parameter of this route")
    assert "limit, next" in message


def test_items_by_query_need_a_store(api: Api) -> None:
    response = api.get("/items")

    assert response["statusCode"] == 400
    assert "store" in json.loads(response["body"])["message"]


def test_an_unknown_store_has_no_items(api: Api) -> None:
    assert api.json("/stores/Nowhere/items") == {"store": "Nowhere", "items": []}


# --- pagination ----------------------------------------------------------------------------


@pytest.fixture
def big(reads: InMemoryReads) -> InMemoryReads:
    """Seven items a route, so pages of 2 make four pages (the last one short)."""
    for n in range(7):
        reads.inventory.append(inventory_item("Big", f"item-{n}", n % 2))
    reads.summaries = [summary_item(f"store-{n}") for n in range(7)]
    reads.receipts = [
        receipt_item(f"r{n}.csv", f"{(TODAY - timedelta(days=n % 3)).isoformat()}T0{n}:00")
        for n in range(7)
    ]
    reads.inventory = [i for i in reads.inventory if i[config.ATTR_STORE] == "Big"]
    return reads


@pytest.mark.parametrize(
    ("path", "field", "total"),
    [
        ("/stores", "stores", 7),
        ("/stores/Big/items", "items", 7),
        ("/receipts", "receipts", 7),
        ("/out-of-stock", "items", 4),
    ],
)
def test_following_next_visits_every_entry_once_and_the_last_page_has_no_next(
    big: InMemoryReads, path: str, field: str, total: int
) -> None:
    api = Api(big)
    whole = api.json(path, {"limit": "100"})[field]

    pages = api.all_pages(path, field, limit=2)

    assert [len(p) for p in pages] == [2] * (total // 2) + ([total % 2] if total % 2 else [])
    assert [entry for page in pages for entry in page] == whole
    assert len(whole) == total


def test_receipts_pages_walk_back_day_by_day_newest_first(big: InMemoryReads) -> None:
    pages = Api(big).all_pages("/receipts", "receipts", limit=3)

    times = [r["processed_at"] for page in pages for r in page]
    assert times == sorted(times, reverse=True)
    assert {t[:10] for t in times} == {(TODAY - timedelta(days=d)).isoformat() for d in range(3)}


def test_a_page_asks_for_one_more_than_its_limit(api: Api, reads: InMemoryReads) -> None:
    api.json("/stores", {"limit": "2"})

    assert reads.page_sizes == [3]


def test_the_default_page_is_fifty(reads: InMemoryReads) -> None:
    reads.summaries = [summary_item(f"s{n:03}") for n in range(51)]

    body = Api(reads).json("/stores")

    assert len(body["stores"]) == 50
    assert "next" in body


# --- bad parameters ------------------------------------------------------------------------


def bad_request(api: Api, path: str, query: dict[str, str]) -> str:
    response = api.get(path, query)
    assert response["statusCode"] == 400, response
    message: str = json.loads(response["body"])["message"]
    return message


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5", ""])
@pytest.mark.parametrize("path", ["/stores", "/stores/Berlin/items", "/out-of-stock", "/receipts"])
def test_a_limit_out_of_range_is_a_400_naming_limit(api: Api, path: str, limit: str) -> None:
    assert bad_request(api, path, {"limit": limit}).startswith("limit: ")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


NOT_OURS = {
    "not base64": "%%%",
    "padding": "eyJrIjp7fX0=",
    "not JSON": b64(b"hello"),
    "not UTF-8": b64(b"\xff\xfe"),
    "a list": b64(b"[1]"),
    "no key": b64(b'{"x":1}'),
    "key not an object": b64(b'{"k":"Berlin"}'),
    "wrong key names": b64(b'{"k":{"Shop":"Berlin"}}'),
    "a number in the key": b64(b'{"k":{"Store":5}}'),
    "an empty key value": b64(b'{"k":{"Store":""}}'),
    "an extra field": b64(b'{"k":{"Store":"a"},"d":"2024-05-08"}'),
    "too long": "A" * 20_000,
}


@pytest.mark.parametrize("token", NOT_OURS.values(), ids=NOT_OURS.keys())
def test_a_next_that_is_not_ours_is_a_400_naming_next(api: Api, token: str) -> None:
    assert bad_request(api, "/stores", {"next": token}).startswith("next: ")


def test_a_token_of_another_list_is_refused(api: Api) -> None:
    stores_token = encode(Position({config.ATTR_STORE: "Berlin"}))
    items_token = encode(Position({config.ATTR_STORE: "Berlin", config.ATTR_ITEM: "Apples"}))

    assert bad_request(api, "/out-of-stock", {"next": stores_token}).startswith("next: ")
    assert bad_request(api, "/receipts", {"next": stores_token}).startswith("next: ")
    assert bad_request(api, "/stores/Köln/items", {"next": items_token}).startswith("next: ")


@pytest.mark.parametrize("day", ["2024-13-01", "yesterday", "2024-5-8", None, 20240508])
def test_a_receipts_token_needs_a_real_day(api: Api, day: object) -> None:
    key = {"ProcessedDay": "x", "processed_at": "x", "ObjectKey": "x", "ReceiptId": "x"}
    token = b64(json.dumps({"k": key, "d": day}).encode())

    assert bad_request(api, "/receipts", {"next": token}).startswith("next: ")


def test_an_unknown_route_is_a_404_message(api: Api) -> None:
    response = api.get("/admin")

    assert response["statusCode"] == 404
    assert json.loads(response["body"]) == {"message": "no such route"}


# --- ETag and 304 --------------------------------------------------------------------------


def test_every_200_has_an_etag_and_a_matching_if_none_match_gets_304(api: Api) -> None:
    first = api.get("/stores")
    tag = first["headers"]["ETag"]
    assert tag.startswith('"') and tag.endswith('"') and len(tag) == 34

    again = api.get("/stores", headers={"If-None-Match": tag})
    weak = api.get("/stores", headers={"If-None-Match": f'"other", W/{tag}'})

    for not_modified in (again, weak):
        assert not_modified["statusCode"] == 304
        assert not not_modified["body"]
        assert not_modified["headers"]["ETag"] == tag


def test_a_changed_body_gets_another_etag_and_a_full_answer(api: Api, reads: InMemoryReads) -> None:
    tag = api.get("/stores")["headers"]["ETag"]
    reads.summaries.append(summary_item("Paris"))

    response = api.get("/stores", headers={"If-None-Match": tag})

    assert response["statusCode"] == 200
    assert response["headers"]["ETag"] != tag
    assert len(json.loads(response["body"])["stores"]) == 3


def test_errors_carry_no_etag(api: Api) -> None:
    assert "ETag" not in api.get("/stores", {"limit": "0"})["headers"]


# --- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/stores", "/stores/Berlin/items", "/out-of-stock", "/receipts"])
def test_a_failing_read_is_a_503_that_tells_nothing_of_the_inside(
    api: Api, reads: InMemoryReads, path: str
) -> None:
    reads.failing = True

    response = api.get(path)

    assert response["statusCode"] == 503
    body = json.loads(response["body"])
    assert set(body) == {"message"}
    assert "DynamoDB" not in body["message"]


def test_an_unexpected_error_is_a_500_without_details(reads: InMemoryReads) -> None:
    reads.summaries = [{"Store": "Berlin", "Items": "lots"}]  # a corrupt item

    response = Api(reads).get("/stores")

    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"message": "internal error"}


# --- cold start ----------------------------------------------------------------------------

QUERY_ENV = {
    config.ENV_TABLE_NAME: "Inventory",
    config.ENV_RECEIPTS_TABLE_NAME: "Receipts",
    config.ENV_STORE_SUMMARIES_TABLE_NAME: "StoreSummaries",
}


def test_query_settings_from_env() -> None:
    assert QuerySettings.from_env(QUERY_ENV) == QuerySettings(
        "Inventory", "Receipts", "StoreSummaries"
    )


@pytest.mark.parametrize("missing", sorted(QUERY_ENV))
def test_the_query_api_fails_its_cold_start_without_a_setting(
    missing: str, monkeypatch: pytest.MonkeyPatch, import_fresh: Callable[[str], ModuleType]
) -> None:
    for name, value in QUERY_ENV.items():
        if name == missing:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)

    with pytest.raises(MissingSettingError, match=missing):
        import_fresh("query_api.handler")


def test_the_query_api_starts_with_its_settings(
    monkeypatch: pytest.MonkeyPatch, import_fresh: Callable[[str], ModuleType]
) -> None:
    for name, value in QUERY_ENV.items():
        monkeypatch.setenv(name, value)

    handler = import_fresh("query_api.handler")

    assert handler.settings == QuerySettings("Inventory", "Receipts", "StoreSummaries")
    assert callable(handler.lambda_handler)
