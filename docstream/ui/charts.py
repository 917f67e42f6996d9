"""Events per minute, counted by ``creation``, drawn as a server-rendered SVG bar chart."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from docstream.model.query import where_clause
from docstream.storage import quote

WIDTH, HEIGHT = 720, 150
LEFT, BOTTOM, TOP = 40, 20, 10
_MINUTE = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass
class Chart:
    title: str
    series: list[Series]
    minutes: list[str]
    bars: list[Bar] = field(default_factory=list)
    peak: int = 0
    ticks: list[tuple[float, str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    bottom: int = BOTTOM

    @property
    def total(self) -> int:
        return sum(s.total for s in self.series)

    @property
    def baseline(self) -> int:
        return self.height - self.bottom


def per_minute(session: Any, doctype: str, since: str, filters: list[list[Any]] | None = None) -> dict[str, int]:
    """``{"YYYY-MM-DD HH:MM": count}`` of ``doctype`` rows created since ``since`` (read permission checked)."""
    meta = session.meta(doctype)
    session.check(meta, "read")
    where, params = where_clause(meta, [["creation", ">=", since], *(filters or [])], session.meta)
    if meta.keyed_by:  # no index on creation: start from the first key of the window instead
        where, params = f"t.{quote(meta.keyed_by)} >= ? AND {where}", [first_key_since(session.db, meta, since), *params]
    minute = "SUBSTR(CAST(t.creation AS TEXT), 1, 16)"
    rows = session.db.sql(
        f"SELECT {minute} AS minute, COUNT(*) AS n FROM {quote(meta.table_name)} t WHERE {where} GROUP BY {minute}",
        params,
    )
    return {str(r["minute"]): int(r["n"]) for r in rows}


def first_key_since(db: Any, meta: Any, since: str) -> int:
    """The smallest key from which on every row of a table keyed by an Int (an append-only log)
    was created at ``since`` or later, found by bisection on the key: a log is stamped as it is
    appended, so creation grows with the key (to the millisecond, among concurrent writers)."""
    key, table = quote(meta.keyed_by), quote(meta.table_name)
    bounds = db.sql(f"SELECT MIN({key}) AS lo, MAX({key}) AS hi FROM {table}")[0]
    if bounds["lo"] is None:
        return 0
    lo, hi = int(bounds["lo"]), int(bounds["hi"]) + 1
    probe = (f"SELECT CASE WHEN creation >= ? THEN 1 ELSE 0 END AS ok FROM {table} "
             f"WHERE {key} >= ? ORDER BY {key} LIMIT 1")
    while lo < hi:
        mid = (lo + hi) // 2
        if db.value(probe, (since, mid)):
            hi = mid
        else:
            lo = mid + 1
    return lo


def minutes_back(hours: int, now: dt.datetime | None = None) -> list[str]:
    """The minutes of the last ``hours`` hours, oldest first, as ``YYYY-MM-DD HH:MM``."""
    end = (now or dt.datetime.now()).replace(second=0, microsecond=0)
    count = hours * 60
    return [(end - dt.timedelta(minutes=count - 1 - i)).strftime(_MINUTE) for i in range(count)]


def build(title: str, series: list[Series], minutes: list[str]) -> Chart:
    """Lay the series out as stacked bars, one per minute, with a tick every hour."""
    chart = Chart(title, series, minutes)
    stacks = [sum(s.counts.get(m, 0) for s in series) for m in minutes]
    chart.peak = max(stacks, default=0)
    plot_w, plot_h = chart.width - chart.left - 4, chart.baseline - chart.top
    step = plot_w / max(len(minutes), 1)
    scale = plot_h / chart.peak if chart.peak else 0
    for i, minute in enumerate(minutes):
        x, base = chart.left + i * step, float(chart.baseline)
        for s in series:
            n = s.counts.get(minute, 0)
            if n:
                h = n * scale
                base -= h
                chart.bars.append(Bar(round(x, 2), round(base, 2), round(max(step - 0.5, 0.5), 2), round(h, 2),
                                      s.colour, f"{minute}: {n} {s.label}"))
        if minute.endswith(":00"):
            chart.ticks.append((round(x, 2), minute[11:]))
    return chart


__all__ = ["Bar", "Chart", "Series", "build", "minutes_back", "per_minute"]
