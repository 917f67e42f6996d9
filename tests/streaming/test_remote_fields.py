"""Local naming keeps the producer's name in custom fields, found through an index."""

from __future__ import annotations

from docstream.storage import quote
from docstream.streaming.producers import ensure_remote_fields


def _indexed_columns(site, table: str) -> list[list[str]]:
    db = site.db
    if db.dialect == "sqlite":
        names = [r["name"] for r in db.sql(f"PRAGMA index_list({quote(table)})")]
        return [[c["name"] for c in db.sql(f"PRAGMA index_info({quote(n)})")] for n in names]
    rows = db.sql("SELECT indexdef FROM pg_indexes WHERE tablename = ?", (table,))
    return [[part.strip().strip('"') for part in r["indexdef"].split("(", 1)[1].rstrip(")").split(",")] for r in rows]


def test_remote_fields_are_created_once_and_indexed(make_site, db_url_for) -> None:
    site = make_site("local-naming.local", db_url=db_url_for("local-naming"))
    session = site.session()
    ensure_remote_fields(session, "Sales Invoice")
    ensure_remote_fields(session, "Sales Invoice")  # again: nothing new
    meta = site.session().meta("Sales Invoice")
    assert meta.has_field("remote_docname") and meta.has_field("remote_site_name")
    assert session.count("Custom Field", {"dt": "Sales Invoice"}) == 2
    assert ["remote_docname", "remote_site_name"] in _indexed_columns(site, "tabSales Invoice")
