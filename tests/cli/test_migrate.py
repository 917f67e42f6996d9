"""``docstream migrate``: a site made by an older version gets this version's built-in DocTypes,
with its data, its Custom Fields and its own DocTypes kept. Run as a real process on both backends."""

from __future__ import annotations

import json
from pathlib import Path

from docstream.site import Site
from tests.conftest import new_pg_url
from tests.support.servers import run_cli


def _older_site(tmp_path: Path, backend: str) -> str:
    """A site as an older version would have left it: ToDo without its priority field and with
    another label, no Note DocType at all, a role missing; and the user's own work on it."""
    args = ["new-site", "old.local", "--admin-password", "pw"]
    if backend == "postgres":
        args += ["--db-url", new_pg_url()]
    run_cli(tmp_path, *args)
    site = Site.open("old.local", tmp_path)
    try:
        s = site.session()
        s.insert({"doctype": "ToDo", "name": "kept", "description": "written before", "priority": "High"})
        s.insert({"doctype": "Custom Field", "dt": "ToDo", "fieldname": "store_code", "fieldtype": "Data",
                  "label": "Store Code"})
        s.update("ToDo", "kept", {"store_code": "S-1"})
        s.insert({"doctype": "DocType", "name": "Own Thing", "custom": 1, "module": "Custom",
                  "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}],
                  "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1}]})
        todo = s.get("DocType", "ToDo")
        fields = [f for f in todo["fields"] if f["fieldname"] != "priority"]
        for f in fields:
            if f["fieldname"] == "description":
                f["label"] = "Old Label"
        s.update("DocType", "ToDo", {"fields": fields})
        with site.db.transaction():
            for table, key in (("tabDocField", "parent"), ("tabDocPerm", "parent"), ("tabDocType", "name")):
                site.db.sql(f'DELETE FROM "{table}" WHERE {key} = ?', ("Note",))
            site.db.sql('DELETE FROM "tabRole" WHERE name = ?', ("Purchase User",))
            site.metas.bump()
    finally:
        site.close()
    return "old.local"


def test_migrate_brings_the_built_in_doctypes_back_and_keeps_everything_else(tmp_path: Path, backend: str) -> None:
    name = _older_site(tmp_path, backend)
    site = Site.open(name, tmp_path)
    try:
        assert not site.metas.exists("Note") and not site.session().meta("ToDo").has_field("priority")
    finally:
        site.close()

    out = run_cli(tmp_path, "migrate", site=name).stdout
    assert "DocTypes added: Note" in out and "DocTypes updated: ToDo" in out and "roles added: Purchase User" in out

    site = Site.open(name, tmp_path)
    try:
        s = site.session()
        meta = s.meta("ToDo")
        assert meta.has_field("priority") and meta.get_field("description").label != "Old Label"
        kept = s.get("ToDo", "kept")
        assert kept["priority"] == "High" and kept["store_code"] == "S-1"  # the column and the Custom Field stayed
        assert s.meta("Own Thing").has_field("title") and s.get("DocType", "Own Thing")["custom"] == 1
        note = s.insert({"doctype": "Note", "title": "after migrate", "public": 1})
        assert s.get("Note", note["name"])["public"] == 1
        assert s.exists("Role", "Purchase User")
    finally:
        site.close()
    assert run_cli(tmp_path, "migrate", site=name).stdout.strip() == "up to date: nothing to change"


def _doctype_stamps(tmp_path: Path, name: str) -> dict[str, str]:
    site = Site.open(name, tmp_path)
    try:
        return {d["name"]: d["modified"] for d in site.session().get_list("DocType", fields=["name", "modified"],
                                                                           limit_page_length=0)}
    finally:
        site.close()


def test_migrate_of_a_current_site_changes_nothing(tmp_path: Path) -> None:
    run_cli(tmp_path, "new-site", "new.local", "--admin-password", "pw")
    before = (tmp_path / "new.local" / "site.json").read_text()
    stamps = _doctype_stamps(tmp_path, "new.local")
    assert run_cli(tmp_path, "migrate", site="new.local").stdout.strip() == "up to date: nothing to change"
    assert _doctype_stamps(tmp_path, "new.local") == stamps
    assert json.loads(before) == json.loads((tmp_path / "new.local" / "site.json").read_text())
