"""A bare database per backend (no site): the storage contract tests run on each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from docstream.storage import Database, open_database
from tests.conftest import new_pg_url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    if request.param == "postgres":
        request.getfixturevalue("postgres")
        url = new_pg_url()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    database = open_database(url, create=True)
    yield database
    database.close()


@pytest.fixture
def table(db: Database, request: pytest.FixtureRequest) -> str:
    """A fresh table ``tabT<n>`` (name TEXT PRIMARY KEY, n BIGINT, label TEXT) for one test."""
    name = "tabT" + request.node.name.split("[")[0].removeprefix("test_")[:40]
    db.sql(f'DROP TABLE IF EXISTS "{name}"')
    db.sql(f'CREATE TABLE "{name}" (name TEXT PRIMARY KEY, n BIGINT NOT NULL DEFAULT 0, label TEXT)')
    return name


def sqlite_path(db: Database) -> Path:
    return Path(db.url[len("sqlite:///"):])
