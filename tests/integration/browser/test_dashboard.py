"""The dashboard in a real browser, against the deployed stack: sign-in, live data, safety.

Uploads go to the stack's bucket; the page must show their effect by itself (it polls every
5 s), so no test reloads the page to see new data. Each test uses stores no other test touches.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.integration.browser.conftest import PageWatch
from tests.integration.conftest import DashboardUser, Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.dashboard, pytest.mark.browser]

LIVE_TIMEOUT_MS = 15_000  # an upload is on the page within ~15 s, without a reload
SESSION_ENDED = "Your session has expired or is not valid. Sign in again."
XSS_ITEM = "<img src=x onerror=alert(1)>"


def csv_bytes(rows: Iterable[tuple[str, str, int]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["store", "item", "count"])
    writer.writerows(rows)
    return buffer.getvalue().encode()


def upload(pipeline: Pipeline, store: str, rows: Iterable[tuple[str, int]], name: str) -> str:
    key = f"browser/{store}/{name}.csv"
    pipeline.upload(key, csv_bytes((store, item, count) for item, count in rows))
    return key


def sign_in(page: Page, url: str, user: DashboardUser) -> None:
    open_signed_out(page, url)
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def mark_page(page: Page) -> None:
    """Leave a mark in the window: it is gone if the page reloads."""
    page.evaluate("window.__notReloaded = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"


def items_row(page: Page, item: str) -> Any:
    return page.locator("#items-table tbody tr").filter(
        has=page.get_by_role("cell", name=item, exact=True)
    )


def fake_token(expires_in_s: int) -> str:
    """A JWT-shaped token the API cannot have issued, expiring in `expires_in_s`."""

    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    claims = {"exp": int(time.time()) + expires_in_s, "token_use": "access"}
    return f"{part({'alg': 'RS256', 'kid': 'nope'})}.{part(claims)}.c2lnbmF0dXJl"


def open_signed_out(page: Page, url: str) -> None:
    """The page, once it has settled on its sign-in form (so it reads nothing more on its own)."""
    page.goto(url)
    expect(page.get_by_label("Email")).to_be_visible()


def put_token(page: Page, token: str) -> None:
    page.evaluate("token => sessionStorage.setItem('inventory.accessToken', token)", token)


def test_sign_in_shows_the_inventory(
    page: Page, dashboard_url: str, dashboard_user: DashboardUser
) -> None:
    sign_in(page, dashboard_url, dashboard_user)

    expect(page.get_by_role("heading", name="Stores")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Updated \d"))).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('inventory.accessToken')")
    assert page.evaluate("localStorage.length") == 0


def test_a_wrong_password_is_refused_with_a_message(
    page: Page, dashboard_url: str, dashboard_user: DashboardUser
) -> None:
    open_signed_out(page, dashboard_url)
    page.get_by_label("Email").fill(dashboard_user.email)
    page.get_by_label("Password").fill(dashboard_user.password + "-wrong")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("email or password is not correct")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0


def test_a_store_appears_after_its_upload(
    page: Page, dashboard_url: str, dashboard_user: DashboardUser, pipeline: Pipeline
) -> None:
    # Given a signed-in page
    sign_in(page, dashboard_url, dashboard_user)
    mark_page(page)
    store = pipeline.unique("Browser Appears")
    # When a file for a new store is uploaded
    upload(pipeline, store, [("apples", 12), ("pears", 0)], "first")
    # Then the store shows up by itself, and its items with their counts
    expect(page.get_by_role("button", name=store)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    page.get_by_role("button", name=store).click()
    expect(items_row(page, "apples")).to_contain_text("12")
    expect(items_row(page, "pears")).to_contain_text("out of stock")
    expect(items_row(page, "apples")).not_to_contain_text("out of stock")
    assert_not_reloaded(page)


def test_a_second_upload_updates_the_counts_live(
    page: Page, dashboard_url: str, dashboard_user: DashboardUser, pipeline: Pipeline
) -> None:
    # Given a store on screen with 12 apples
    store = pipeline.unique("Browser Live")
    upload(pipeline, store, [("apples", 12), ("plums", 3)], "first")
    sign_in(page, dashboard_url, dashboard_user)
    page.get_by_role("button", name=store).click(timeout=LIVE_TIMEOUT_MS)
    expect(items_row(page, "apples")).to_contain_text("12", timeout=LIVE_TIMEOUT_MS)
    mark_page(page)
    # When a second file sells them out and restocks the plums
    upload(pipeline, store, [("apples", 0), ("plums", 40)], "second")
    # Then the page shows the new counts by itself
    expect(items_row(page, "apples")).to_contain_text("out of stock", timeout=LIVE_TIMEOUT_MS)
    expect(items_row(page, "plums")).to_contain_text("40")
    assert_not_reloaded(page)


def test_an_item_named_like_html_is_shown_as_text(
    page: Page,
    dashboard_url: str,
    dashboard_user: DashboardUser,
    pipeline: Pipeline,
    watch: PageWatch,
) -> None:
    # Given a store whose item name is an HTML payload
    store = pipeline.unique("Browser <b>Bold</b>")
    upload(pipeline, store, [(XSS_ITEM, 0)], "xss")
    # When its items are shown
    sign_in(page, dashboard_url, dashboard_user)
    page.get_by_role("button", name=store).click(timeout=LIVE_TIMEOUT_MS)
    # Then the names are their literal characters, no element was made and nothing ran
    expect(items_row(page, XSS_ITEM)).to_contain_text("out of stock")
    expect(page.get_by_role("heading", name=f"Items in {store}")).to_be_visible()
    assert page.locator("img").count() == 0
    assert page.locator("b").count() == 0
    assert watch.dialogs == []


def test_search_filters_the_stores_by_name(
    page: Page, dashboard_url: str, dashboard_user: DashboardUser, pipeline: Pipeline
) -> None:
    wanted = pipeline.unique("Browser Harbour")
    other = pipeline.unique("Browser Hill")
    upload(pipeline, wanted, [("rope", 1)], "a")
    upload(pipeline, other, [("rope", 1)], "b")
    sign_in(page, dashboard_url, dashboard_user)
    expect(page.get_by_role("button", name=other)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_role("button", name=wanted)).to_be_visible(timeout=LIVE_TIMEOUT_MS)

    page.get_by_label("Search").fill(wanted.upper())

    expect(page.get_by_role("button", name=wanted)).to_be_visible()
    expect(page.get_by_role("button", name=other)).to_be_hidden()
    expect(page.get_by_text("Showing 1 of")).to_be_visible()


def test_export_csv_quotes_and_neutralises_formulas(
    page: Page,
    dashboard_url: str,
    dashboard_user: DashboardUser,
    pipeline: Pipeline,
    tmp_path: Path,
) -> None:
    store = pipeline.unique("Browser Export")
    items = {'=HYPERLINK("x")': 1, "+1": 2, "-2": 3, "@sum": 4, "nuts, salted": 0, "plain": 5}
    upload(pipeline, store, items.items(), "export")
    sign_in(page, dashboard_url, dashboard_user)
    page.get_by_role("button", name=store).click(timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#items-table tbody tr")).to_have_count(len(items), timeout=LIVE_TIMEOUT_MS)

    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)

    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["store", "item", "count", "updated_at", "source_key"]
    exported = {row[1]: row[2] for row in rows[1:]}
    assert exported == {
        "'=HYPERLINK(\"x\")": "1", "'+1": "2", "'-2": "3", "'@sum": "4",
        "nuts, salted": "0", "plain": "5",
    }  # fmt: skip
    assert {row[0] for row in rows[1:]} == {store}


def test_a_rejected_file_shows_its_reason(
    page: Page, dashboard_url: str, dashboard_user: DashboardUser, pipeline: Pipeline
) -> None:
    key = f"browser/{pipeline.unique('rejected')}.csv"
    sign_in(page, dashboard_url, dashboard_user)

    pipeline.upload(key, b"shop,thing,amount\nA,b,1\n")

    row = page.locator("#receipts-table tbody tr").filter(has_text=key)
    expect(row).to_contain_text("rejected", timeout=LIVE_TIMEOUT_MS)
    expect(row).to_contain_text("header must be store,item,count")


def test_sign_out_returns_to_sign_in(
    page: Page, dashboard_url: str, dashboard_user: DashboardUser
) -> None:
    sign_in(page, dashboard_url, dashboard_user)

    page.get_by_role("button", name="Sign out").click()

    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    page.reload()
    expect(page.get_by_label("Email")).to_be_visible()
    expect(page.get_by_role("heading", name="Stores")).to_be_hidden()


def test_a_token_the_api_refuses_returns_to_sign_in(page: Page, dashboard_url: str) -> None:
    # Given a token that looks valid for an hour but was never issued by the pool
    open_signed_out(page, dashboard_url)
    put_token(page, fake_token(expires_in_s=3600))
    # When the page loads with it, the API answers 401
    page.reload()
    # Then the session is dropped, with a message
    expect(page.get_by_role("alert")).to_have_text(SESSION_ENDED)
    expect(page.get_by_label("Email")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('inventory.accessToken')") is None


def test_an_invalid_token_mid_session_returns_to_sign_in(
    page: Page, dashboard_url: str, dashboard_user: DashboardUser
) -> None:
    # Given a signed-in page whose token is then replaced by garbage
    sign_in(page, dashboard_url, dashboard_user)
    put_token(page, "garbage")
    # Then the next poll (within 5 s) is refused, and the page goes back to sign-in
    expect(page.get_by_role("alert")).to_have_text(SESSION_ENDED, timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_an_expired_token_is_caught_before_calling_the_api(page: Page, dashboard_url: str) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    open_signed_out(page, dashboard_url)
    put_token(page, fake_token(expires_in_s=-60))

    page.reload()

    expect(page.get_by_role("alert")).to_have_text(SESSION_ENDED)
    assert not [url for url in requests if "/stores" in url or "/receipts" in url]
