"""Fixtures of the desk tests: a real served site, and a browser-like HTTP client that logs in
through /login and posts forms with their CSRF token."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.support.servers import Api, SiteServer

_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


class Desk:
    """An HTTP client that uses the desk as a browser without JavaScript would."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=60, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def login(self, usr: str, pwd: str) -> httpx.Response:
        return self.http.post("/login", data={"usr": usr, "pwd": pwd, "redirect-to": "/app"})

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def token(self) -> str:
        match = _TOKEN.search(self.get("/app").text)
        assert match, "no CSRF token on /app"
        return match.group(1)

    def post(self, path: str, data: list[tuple[str, str]] | dict[str, str], token: bool = True) -> httpx.Response:
        items = list(data.items()) if isinstance(data, dict) else list(data)
        if token:
            items.append(("csrf_token", self.token()))
        return self.http.post(path, content=urlencode(items), headers={"Content-Type": "application/x-www-form-urlencoded"})


def text_of(page: str) -> str:
    """The page's text with tags dropped and entities decoded (what a reader sees)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.fixture(scope="module")
def desk_site(serve_module: Any) -> SiteServer:
    return serve_module("desk.local")


@pytest.fixture(scope="module")
def api(desk_site: SiteServer) -> Iterator[Api]:
    with desk_site.admin() as client:
        yield client


@pytest.fixture(scope="module")
def admin_desk(desk_site: SiteServer) -> Iterator[Desk]:
    desk = Desk(desk_site.url)
    assert desk.login("Administrator", desk_site.admin_password).status_code == 303
    yield desk
    desk.close()


@pytest.fixture
def guest_desk(desk_site: SiteServer) -> Iterator[Desk]:
    desk = Desk(desk_site.url)
    yield desk
    desk.close()
