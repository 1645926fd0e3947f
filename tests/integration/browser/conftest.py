"""Browser tests: Playwright drives Debian's chromium through the dashboard of the deployed stack.

The stack, its dashboard and a signed-up user are the integration tests' fixtures (`pipeline`,
`dashboard_url`, `dashboard_user`). Every test saves a screenshot of where it ended to
`reports/browser/<test>.png`, passed or not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, sync_playwright

from harness import env

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; Playwright's own download does not work here
SCREENSHOTS = env.ROOT / "reports" / "browser"


@dataclass
class PageWatch:
    """What the page did that a test may assert on: dialogs, uncaught errors, CSP violations."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.errors.append(message.text)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, for the whole session."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser tests need Debian's chromium at {CHROMIUM}: apt-get install chromium"
        )
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield found
        found.close()


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def page(browser: Browser, watch: PageWatch, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context (its own sessionStorage) and page; a screenshot at the end."""
    # The emulator's https certificate is its own; the browser need not trust it for a test.
    context = browser.new_context(ignore_https_errors=True, accept_downloads=True)
    opened = context.new_page()
    opened.on("dialog", watch.on_dialog)
    opened.on("console", watch.on_console)
    opened.on("pageerror", lambda error: watch.errors.append(str(error)))
    try:
        yield opened
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        opened.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        context.close()
    assert not watch.errors, f"the page reported errors: {watch.errors}"
