"""Pick the backend from a database URL."""

from __future__ import annotations

from pathlib import Path

from docstream.errors import ValidationError
from docstream.storage.base import Database


SQLITE_SCHEME = "sqlite:///"


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///PATH`` URL; None for any other."""
    return url[len(SQLITE_SCHEME):] if url.startswith(SQLITE_SCHEME) else None


def open_database(url: str, create: bool = False) -> Database:
    """``sqlite:///path/to/file.db`` or ``postgresql://user@host:port/dbname``."""
    path = sqlite_path(url)
    if path is not None:
        from docstream.storage.sqlite import SQLiteDatabase

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SQLiteDatabase(url, path)
    if url.startswith(("postgresql://", "postgres://")):
        from docstream.storage.postgres import PostgresDatabase, ensure_database

        if create:
            ensure_database(url)
        return PostgresDatabase(url)
    raise ValidationError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://…/DBNAME")
