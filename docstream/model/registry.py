"""The DocType registry of a site: Meta built from the DocType documents in the database.

Metas are cached per process; a version counter in the database (bumped by
every DocType or Custom Field change) tells other processes to reload.
"""

from __future__ import annotations

import json
import threading
from importlib import resources
from typing import Any

from docstream.errors import DoesNotExistError
from docstream.model.meta import Meta
from docstream.storage import Database

VERSION_DDL = 'CREATE TABLE IF NOT EXISTS "__meta_version" (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)'
VERSION_SQL = 'SELECT version FROM "__meta_version" WHERE id = 1'  # bumped by every change of a DocType
BOOTSTRAP = ("DocType", "DocField", "DocPerm")


def builtin_doctypes() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for module in ("core", "business", "streaming"):
        text = resources.files("docstream.doctypes").joinpath(f"{module}.json").read_text()
        out.extend(json.loads(text))
    return out


def bootstrap_metas() -> dict[str, Meta]:
    return {d["name"]: Meta.from_dict(d) for d in builtin_doctypes() if d["name"] in BOOTSTRAP}


class MetaRegistry:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._metas: dict[str, Meta] = bootstrap_metas()
        self._version: int | None = None

    def get(self, doctype: str) -> Meta:
        meta = self.all().get(doctype)
        if meta is None:
            raise DoesNotExistError(f"DocType {doctype} not found", doctype="DocType", name=doctype)
        return meta

    def exists(self, doctype: str) -> bool:
        return doctype in self.all()

    def all(self) -> dict[str, Meta]:
        return self._metas

    def refresh(self, version: Any = None) -> None:
        """Reload when another process (or this one) changed a DocType since the last load
        (``version``: the current one, when the caller read it with something else)."""
        if version is None:
            version = self.db.value(VERSION_SQL)
        if version != self._version:
            self.load(version)

    def load(self, version: int | None = None) -> None:
        with self._lock:
            self._metas = self._read()
            self._version = version

    def bump(self) -> None:
        self.db.sql('UPDATE "__meta_version" SET version = version + 1 WHERE id = 1')
        self.load(self.db.value(VERSION_SQL))
        self.db.on_rollback(self._reload)

    def _reload(self) -> None:
        """The change that bumped the version was rolled back: drop what this process loaded."""
        self._version = None
        self.refresh()

    def _read(self) -> dict[str, Meta]:
        doctypes = self.db.sql('SELECT * FROM "tabDocType"')
        fields = _group(self.db.sql('SELECT * FROM "tabDocField" ORDER BY parent, idx'))
        perms = _group(self.db.sql('SELECT * FROM "tabDocPerm" ORDER BY parent, idx'))
        custom = _group(self.db.sql('SELECT * FROM "tabCustom Field" ORDER BY creation, name'), key="dt") \
            if "Custom Field" in {d["name"] for d in doctypes} else {}
        metas = bootstrap_metas()
        for d in doctypes:
            definition = {**d, "fields": fields.get(d["name"], []), "permissions": perms.get(d["name"], [])}
            metas[d["name"]] = Meta.from_dict(definition, custom.get(d["name"], []))
        return metas


def _group(rows: list[dict[str, Any]], key: str = "parent") -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row[key], []).append(row)
    return out
