"""Fixtures of the API tests: one real ``docstream serve`` per test module, shared by its tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.servers import Api, SiteServer


@pytest.fixture(scope="module")
def site(serve_module: Any) -> SiteServer:
    return serve_module("api.local")


@pytest.fixture(scope="module")
def admin(site: SiteServer) -> Iterator[Api]:
    with site.admin() as api:
        yield api


@pytest.fixture(scope="module")
def guest(site: SiteServer) -> Iterator[Api]:
    with site.client() as api:
        yield api
