"""Pick the backend from a database URL."""

from __future__ import annotations

from pathlib import Path

from docstream.errors import ValidationError
from docstream.storage.base import Database


def open_database(url: str, create: bool = False) -> Database:
    """``sqlite:///path/to/file.db`` or ``postgresql://user@host:port/dbname``."""
    if url.startswith("sqlite:///"):
        from docstream.storage.sqlite import SQLiteDatabase

        path = url[len("sqlite:///"):]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SQLiteDatabase(url, path)
    if url.startswith(("postgresql://", "postgres://")):
        from docstream.storage.postgres import PostgresDatabase, ensure_database

        if create:
            ensure_database(url)
        return PostgresDatabase(url)
    raise ValidationError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://…/DBNAME")
