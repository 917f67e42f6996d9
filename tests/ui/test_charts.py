"""Events per minute: counted through the Session (read permission checked), laid out as bars."""

from __future__ import annotations

import datetime as dt

import pytest

from docstream.errors import PermissionError
from docstream.ui import charts


def test_minutes_back_ends_at_this_minute() -> None:
    minutes = charts.minutes_back(1, dt.datetime(2026, 1, 2, 10, 30, 45))
    assert len(minutes) == 60 and minutes[0] == "2026-01-02 09:31" and minutes[-1] == "2026-01-02 10:30"


def test_bars_stack_and_ticks_mark_the_hours() -> None:
    minutes = ["2026-01-02 09:59", "2026-01-02 10:00", "2026-01-02 10:01"]
    chart = charts.build("t", [charts.Series("ok", "green", {minutes[1]: 2}),
                               charts.Series("bad", "red", {minutes[1]: 1, minutes[2]: 3})], minutes)
    assert chart.peak == 3 and chart.total == 6
    assert [(b.colour, b.title) for b in chart.bars] == [
        ("green", "2026-01-02 10:00: 2 ok"), ("red", "2026-01-02 10:00: 1 bad"), ("red", "2026-01-02 10:01: 3 bad")]
    green, red, tall = chart.bars
    assert red.y + red.height == pytest.approx(green.y)  # stacked
    assert tall.y == pytest.approx(chart.top) and tall.y + tall.height == pytest.approx(chart.baseline)
    assert [label for _, label in chart.ticks] == ["10:00"]


def test_per_minute_counts_rows_by_creation(make_site, db_url_for) -> None:
    site = make_site("charts.local", db_url=db_url_for("charts"))
    session = site.session()
    for title in ("a", "b", "c"):
        session.insert({"doctype": "Note", "title": title})
    counts = charts.per_minute(session, "Note", "2000-01-01 00:00:00")
    assert sum(counts.values()) == 3
    assert all(len(minute) == 16 for minute in counts)
    assert charts.per_minute(session, "Note", "2999-01-01 00:00:00") == {}
    with pytest.raises(PermissionError):
        charts.per_minute(site.session("Guest"), "Note", "2000-01-01 00:00:00")


def test_the_update_log_chart_starts_from_its_first_key_in_the_window(make_site, db_url_for) -> None:
    """The log has no index on creation: the chart bisects on sequence for the window's first log,
    and still counts exactly the logs created in the window, gaps in the sequence included."""
    from docstream.streaming.updatelog import append_log

    site = make_site("logchart.local", db_url=db_url_for("logchart"))
    session = site.session()
    for i in range(40):
        append_log(session, {"update_type": "Create", "ref_doctype": "Note", "docname": f"n{i}"})
    stamps = [f"2026-01-0{1 + i // 10} 10:{i % 10:02d}:00" for i in range(40)]  # 10 per day, in order
    for seq, stamp in enumerate(stamps, start=1):
        site.db.sql('UPDATE "tabEvent Update Log" SET creation = ? WHERE sequence = ?', (stamp, seq))
    site.db.sql('DELETE FROM "tabEvent Update Log" WHERE sequence IN (21, 22, 23)')
    meta = session.meta("Event Update Log")
    assert charts.first_key_since(site.db, meta, "2026-01-03 00:00:00") == 21  # 21–23 are gone: 24 is the first row
    assert charts.first_key_since(site.db, meta, "2026-01-02 10:05:00") == 16
    assert charts.first_key_since(site.db, meta, "2000-01-01 00:00:00") == 1
    assert charts.first_key_since(site.db, meta, "2999-01-01 00:00:00") == 41
    counts = charts.per_minute(session, "Event Update Log", "2026-01-03 00:00:00")
    assert sum(counts.values()) == 17 and min(counts) == "2026-01-03 10:03"
