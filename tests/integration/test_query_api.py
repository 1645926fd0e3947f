"""The query API on the emulator: a real JWT authorizer, real reads, clear 400s, pagination."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.support.query_api import QueryApi
from tests.support.waiting import eventually

from .conftest import Pipeline
from .test_pipeline import csv_bytes

pytestmark = [pytest.mark.integration, pytest.mark.dashboard]

XSS_ITEM = "<img src=x onerror=alert(1)>"


def _store_path(store: str) -> str:
    return f"/stores/{quote(store, safe='')}/items"


@pytest.fixture(scope="module")
def loaded(pipeline: Pipeline) -> tuple[str, str]:
    """A store (spaces, accents, markup in its items) uploaded and loaded once for the module."""
    store = pipeline.unique("Tienda Ñandú, 5th Ave")
    key = f"api/{pipeline.run_id}/store.csv"
    rows = [(store, "apples", 3), (store, "bread, sliced", 0), (store, XSS_ITEM, 1)]
    receipt = pipeline.upload_and_wait(key, csv_bytes(rows))
    assert receipt.status == "loaded"
    return store, key


@pytest.mark.parametrize("token", [None, "not-a-jwt", "eyJhbGciOiJub25lIn0.e30."])
@pytest.mark.parametrize("path", ["/stores", "/receipts", "/out-of-stock", "/stores/x/items"])
def test_a_request_without_a_valid_token_is_refused_with_401(
    api: QueryApi, token: str | None, path: str
) -> None:
    answer = api.with_token(token).get(path)

    assert answer.status == 401


def test_a_loaded_store_is_listed_with_its_items_and_its_zero(
    api: QueryApi, loaded: tuple[str, str]
) -> None:
    store, key = loaded

    items = api.get(_store_path(store))
    # The store's summary is recounted just after its receipt is kept
    stores = eventually(
        lambda: {s["store"]: s for s in api.pages("/stores", "stores", limit=100)},
        lambda listed: store in listed,
        timeout_s=10,
    )
    zeros = api.pages("/out-of-stock", "items", limit=100)

    assert items.status == 200
    assert items.body["store"] == store
    assert {i["item"]: i["count"] for i in items.body["items"]} == {
        "apples": 3,
        "bread, sliced": 0,
        XSS_ITEM: 1,
    }
    assert {i["source_key"] for i in items.body["items"]} == {key}
    summary = stores[store]
    assert (summary["items"], summary["out_of_stock"]) == (3, 1)
    assert summary["updated_at"]
    assert [(z["store"], z["item"]) for z in zeros if z["store"] == store] == [
        (store, "bread, sliced")
    ]


def test_a_store_with_a_slash_in_its_name_is_found_by_query(
    api: QueryApi, pipeline: Pipeline
) -> None:
    store = pipeline.unique("Nord/Süd </b>")
    key = f"api/{pipeline.run_id}/slash.csv"
    assert pipeline.upload_and_wait(key, csv_bytes([(store, "tea", 2)])).status == "loaded"

    answer = api.get("/items", {"store": store})

    assert answer.status == 200
    assert answer.body["store"] == store
    assert [(i["item"], i["count"]) for i in answer.body["items"]] == [("tea", 2)]


def test_a_store_s_items_come_back_whole_one_page_at_a_time(
    api: QueryApi, loaded: tuple[str, str]
) -> None:
    store, _ = loaded

    paged = api.pages(_store_path(store), "items", limit=1)

    assert [i["item"] for i in paged] == sorted(["apples", "bread, sliced", XSS_ITEM])


def test_recent_receipts_show_loaded_and_rejected_files_with_reasons(
    api: QueryApi, pipeline: Pipeline, loaded: tuple[str, str]
) -> None:
    _, loaded_key = loaded
    rejected_key = f"api/{pipeline.run_id}/no-header.csv"
    pipeline.upload_and_wait(rejected_key, b"just,some\nwords,here\n")

    recent = {r["key"]: r for r in api.pages("/receipts", "receipts", limit=20)[:200]}

    assert recent[loaded_key]["status"] == "loaded"
    assert recent[loaded_key]["rows_written"] == 3
    assert recent[rejected_key]["status"] == "rejected"
    assert "header" in recent[rejected_key]["reason"]


def test_receipts_come_newest_first(api: QueryApi) -> None:
    answer = api.get("/receipts", {"limit": 50})

    times = [r["processed_at"] for r in answer.body["receipts"]]
    assert answer.status == 200
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"next": "not-a-token"}, "next"),
        ({"next": "eyJ4IjogMX0"}, "next"),  # valid base64 JSON, but not one of our tokens
    ],
)
@pytest.mark.parametrize("path", ["/stores", "/receipts", "/out-of-stock"])
def test_a_bad_parameter_gets_400_naming_it(
    api: QueryApi, path: str, params: dict[str, object], named: str
) -> None:
    answer = api.get(path, params)

    assert answer.status == 400, answer
    assert named in answer.body["message"]


def test_an_unchanged_list_answers_304_to_its_etag(api: QueryApi, loaded: tuple[str, str]) -> None:
    store, _ = loaded
    first = api.get(_store_path(store))

    again = api.get(_store_path(store), headers={"If-None-Match": first.headers["etag"]})

    assert again.status == 304
    assert again.body is None
