"""Shared fixtures: a sites folder per test, PostgreSQL databases per test run, real servers."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import PG_BASE, SiteServer, free_port, pg_available, run_cli

RUN_ID = uuid.uuid4().hex[:8]
_PG_DBS: list[str] = []
_counter = itertools.count()


def new_pg_url() -> str:
    name = f"ds_test_{RUN_ID}_{next(_counter)}"
    _PG_DBS.append(name)
    return f"{PG_BASE}/{name}"


@pytest.fixture(scope="session")
def postgres() -> str:
    if not pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 but CI must run the PostgreSQL tests")
        pytest.skip("PostgreSQL is not reachable")
    return PG_BASE


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.getfixturevalue("postgres")
    return request.param


@pytest.fixture
def db_url_for(backend: str, tmp_path: Path):
    def make(name: str) -> str | None:
        return new_pg_url() if backend == "postgres" else None

    return make


@pytest.fixture
def sites_dir(tmp_path: Path) -> Path:
    path = tmp_path / "sites"
    path.mkdir()
    return path


@pytest.fixture
def make_site(sites_dir: Path):
    """Create a site in-process; returns the open Site (closed at the end)."""
    from docstream.site import Site

    opened = []

    def make(name: str = "site1.local", db_url: str | None = None, admin_password: str = "admin", url: str | None = None):
        site = Site.create(name, admin_password, sites_dir, db_url=db_url, url=url)
        opened.append(site)
        return site

    yield make
    for site in opened:
        site.close()


def _server_factory(sites_dir: Path, servers: list[SiteServer]):
    def start(name: str, db_url: str | None = None, extra_args: list[str] | None = None, start: bool = True) -> SiteServer:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        args = ["new-site", name, "--admin-password", "admin", "--url", url]
        if db_url:
            args += ["--db-url", db_url]
        run_cli(sites_dir, *args)
        server = SiteServer(name, sites_dir, port, extra_args=list(extra_args or []))
        servers.append(server)
        return server.start() if start else server

    return start


@pytest.fixture
def serve(sites_dir: Path) -> Iterator:
    """Create a site through the CLI and serve it with a real process: ``serve("hq", db_url=None)``."""
    servers: list[SiteServer] = []
    yield _server_factory(sites_dir, servers)
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="module")
def serve_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """Like ``serve``, but the servers live for the whole test module (in their own sites folder)."""
    servers: list[SiteServer] = []
    yield _server_factory(tmp_path_factory.mktemp("sites"), servers)
    for server in servers:
        server.shutdown()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _PG_DBS:
        return
    from docstream.storage.postgres import drop_database

    for name in _PG_DBS:
        try:
            drop_database(f"{PG_BASE}/{name}")
        except Exception:
            pass
