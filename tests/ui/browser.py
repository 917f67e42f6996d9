"""Driving the desk in Debian's Chromium through Playwright: launching it, logging in, waiting
for what another site sends, and saving screenshots under test-artifacts/."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("DOCSTREAM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
README_IMAGES = ROOT / "docs" / "images"
VIEWPORT = {"width": 1200, "height": 760}


def browser_fixture() -> Iterator[Any]:
    """A headless Chromium for a test module (the machine's own: nothing is downloaded)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Tab:
    """One logged-in browser tab on one site."""

    def __init__(self, browser: Any, url: str) -> None:
        self.url = url
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.page.on("dialog", self._dialog)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        """Scripts must run under the pages' Content-Security-Policy without being blocked."""
        if message.type == "error" and "Content Security Policy" in message.text:
            self.errors.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.accept() if dialog.type == "confirm" else dialog.dismiss()

    def close(self) -> None:
        self.context.close()

    def login(self, usr: str, pwd: str) -> Tab:
        self.goto("/login")
        self.page.fill("#login-email", usr)
        self.page.fill("#login-password", pwd)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(self.url + "/app")
        return self

    def goto(self, path: str) -> Any:
        return self.page.goto(self.url + path)

    def click(self, selector: str) -> None:
        """Click, and wait for the page it leads to."""
        with self.page.expect_navigation():
            self.page.click(selector)

    def text(self, selector: str = "body") -> str:
        return self.page.inner_text(selector)

    def reload_until(self, path: str, check: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
        """Open ``path`` again and again until ``check()`` is true (a document arriving from another site)."""
        deadline = time.monotonic() + timeout
        while True:
            self.goto(path)
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or path}: {self.text()[:1500]}")
            time.sleep(0.5)

    def add_row(self, table: str) -> Any:
        """Click a grid's Add Row (htmx fetches the row) and return the new row."""
        rows = self.page.locator(f"#grid-{table} tr.grid-row")
        before = rows.count()
        self.page.click(f"[data-table={table}] .btn-add-row")
        rows.nth(before).wait_for()
        self.settled()  # the new row's inputs have their htmx behaviour only once the swap settled
        return rows.nth(before)

    def settled(self, timeout: float = 10.0) -> None:
        """Wait until htmx has no request, swap or settle in flight. Polled from here with
        ``evaluate``: ``wait_for_function`` polls in the page by evaluating a string, which the
        desk's Content Security Policy (no 'unsafe-eval') refuses whenever the first look fails."""
        deadline = time.monotonic() + timeout
        busy = "() => !!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
        while self.page.evaluate(busy):
            if time.monotonic() > deadline:
                raise AssertionError(f"htmx still busy after {timeout} s")
            time.sleep(0.02)

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


def publish(shot: Path, name: str) -> None:
    """Copy a screenshot to docs/images/ for the README."""
    README_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, README_IMAGES / name)


__all__ = ["ARTIFACTS", "Tab", "browser_fixture", "publish"]
