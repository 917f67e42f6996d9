"""Naming rules, and the race-free series counter under threads and processes."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from docstream.errors import MandatoryError, ValidationError
from docstream.model.doctypes import import_doctype
from docstream.model.documents import Session
from docstream.site import Site
from tests.model.conftest import new_invoice, tag

YEAR = dt.date.today().strftime("%Y")
NAMED = [
    {"name": "Numbered Note", "module": "Test", "autoname": "NOTE-.#####",
     "fields": [{"fieldname": "title", "fieldtype": "Data"}]},
    {"name": "Counted", "module": "Test", "autoname": "autoincrement",
     "fields": [{"fieldname": "title", "fieldtype": "Data"}]},
    {"name": "Prompted", "module": "Test", "autoname": "prompt",
     "fields": [{"fieldname": "title", "fieldtype": "Data"}]},
    {"name": "Formatted", "module": "Test", "autoname": "format:GAD-{region}-{YYYY}-{####}",
     "fields": [{"fieldname": "region", "fieldtype": "Data"}]},
    {"name": "Serial", "module": "Test", "autoname": "naming_series:",
     "fields": [{"fieldname": "naming_series", "fieldtype": "Select", "options": "SER-.YY.MM.-.###\nALT-.####"},
                {"fieldname": "region", "fieldtype": "Data"}]},
    {"name": "Race", "module": "Test", "autoname": "RACE-.#####",
     "fields": [{"fieldname": "worker", "fieldtype": "Data"}]},
]


@pytest.fixture(scope="module")
def named(site: Site) -> Site:
    import_doctype(site.session(), NAMED)
    return site


def test_field_naming(admin: Session) -> None:
    name = tag("Acme ")
    assert admin.insert({"doctype": "Customer", "customer_name": name})["name"] == name
    given = tag("Given ")  # the name given fills the field when it is empty
    doc = admin.insert({"doctype": "Customer", "name": given})
    assert (doc["name"], doc["customer_name"]) == (given, given)
    with pytest.raises(MandatoryError) as info:
        admin.insert({"doctype": "Item", "item_name": "no code"})
    assert info.value.field == "item_code"


def test_naming_series_default(admin: Session) -> None:
    first, second = new_invoice(admin), new_invoice(admin)
    assert re.fullmatch(rf"SINV-{YEAR}-\d{{5}}", first["name"])
    assert int(second["name"][-5:]) == int(first["name"][-5:]) + 1
    assert first["naming_series"] == "SINV-.YYYY.-.#####"


def test_naming_series_chosen_per_document(named: Site) -> None:
    session = named.session()
    yymm = dt.date.today().strftime("%y%m")
    a = session.insert({"doctype": "Serial"})  # first option by default
    b = session.insert({"doctype": "Serial", "naming_series": "ALT-.####"})
    c = session.insert({"doctype": "Serial", "naming_series": "SER-.YY.MM.-.###"})
    assert (a["name"], b["name"], c["name"]) == (f"SER-{yymm}-001", "ALT-0001", f"SER-{yymm}-002")
    with pytest.raises(ValidationError) as info:
        session.insert({"doctype": "Serial", "naming_series": "OTHER-.###"})
    assert info.value.field == "naming_series"


def test_pattern_naming(named: Site) -> None:
    session = named.session()
    names = [session.insert({"doctype": "Numbered Note"})["name"] for _ in range(3)]
    assert names == ["NOTE-00001", "NOTE-00002", "NOTE-00003"]
    assert session.insert({"doctype": "Numbered Note", "name": "MY-NOTE"})["name"] == "MY-NOTE"


def test_format_naming(named: Site) -> None:
    session = named.session()
    a = session.insert({"doctype": "Formatted", "region": "EU"})
    b = session.insert({"doctype": "Formatted", "region": "US"})
    assert (a["name"], b["name"]) == (f"GAD-EU-{YEAR}-0001", f"GAD-US-{YEAR}-0002")
    with pytest.raises(MandatoryError) as info:
        session.insert({"doctype": "Formatted"})
    assert info.value.field == "region"


def test_custom_field_is_named_by_format(admin: Session) -> None:
    doc = admin.insert({"doctype": "Custom Field", "dt": "Note", "fieldname": "mood", "fieldtype": "Data"})
    assert doc["name"] == "Note-mood"


def test_autoincrement(named: Site) -> None:
    session = named.session()
    assert [session.insert({"doctype": "Counted"})["name"] for _ in range(3)] == ["1", "2", "3"]


def test_prompt_needs_a_name(named: Site) -> None:
    session = named.session()
    with pytest.raises(MandatoryError) as info:
        session.insert({"doctype": "Prompted", "title": "x"})
    assert (info.value.doctype, info.value.field) == ("Prompted", "name")
    assert session.insert({"doctype": "Prompted", "name": "Chosen"})["name"] == "Chosen"


def test_hash_naming(admin: Session) -> None:
    names = {admin.insert({"doctype": "Note", "title": "n"})["name"] for _ in range(20)}
    assert len(names) == 20 and all(re.fullmatch(r"[0-9a-f]{10}", n) for n in names)


# -- the series counter under concurrency ------------------------------------------------------

WORKER = textwrap.dedent("""
    import sys, threading, time
    from pathlib import Path
    from docstream.site import Site

    sites, label, per_thread, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    site = Site.open("model.local", sites)
    # hold the write open a moment after the number is drawn: a counter that is not
    # locked until commit would hand the same number to another writer here
    site.hooks.on("before_insert", "Race")(lambda s, d, o: time.sleep(0.002))
    while not go.exists():
        time.sleep(0.01)

    def run(n):
        session = site.session()
        for _ in range(per_thread):
            session.insert({"doctype": "Race", "worker": f"{label}-{n}"})

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    site.close()
    print("done")
""")


def race_numbers(site: Site) -> list[int]:
    rows = site.db.sql('SELECT name FROM "tabRace"')
    return sorted(int(r["name"].removeprefix("RACE-")) for r in rows)


def test_series_is_race_free_across_threads_and_processes(named: Site, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(named.path.parent), f"p{i}", "15", str(go)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(3)
    ]
    errors: list[BaseException] = []

    def local(n: int) -> None:
        try:
            session = named.session()
            for _ in range(15):
                session.insert({"doctype": "Race", "worker": f"main-{n}"})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    time.sleep(0.5)  # let the processes import and wait at the line
    threads = [threading.Thread(target=local, args=(n,)) for n in range(4)]
    go.touch()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "done"
    assert errors == []
    total = 4 * 15 + 3 * 2 * 15
    assert race_numbers(named) == list(range(1, total + 1))  # all distinct, no gap
    workers = {r["worker"].split("-")[0] for r in named.db.sql('SELECT worker FROM "tabRace"')}
    assert workers == {"main", "p0", "p1", "p2"}
