"""What the demo shows at the end: per-site figures, the convergence verdict, and the logins."""

from __future__ import annotations

import datetime as dt
import json
import statistics
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from docstream.demo.convergence import Verdict
from docstream.demo.setup import SUBSCRIBER, Cluster, DemoSite

STAMP = "%Y-%m-%d %H:%M:%S.%f"
MAX_DIFFERENCES_SHOWN = 20


@dataclass(frozen=True)
class SiteStats:
    """One site's streaming, from its own logs: what it produced and what it applied from others."""

    name: str
    produced: int
    synced: int
    failed: int
    lags: tuple[float, ...]
    window: float

    @property
    def throughput(self) -> float:
        """Events applied per second, from the first event's commit on its producer to the last applied."""
        return self.synced / self.window if self.window > 0 else 0.0


def collect(cluster: Cluster) -> list[SiteStats]:
    return [site_stats(site) for site in cluster.sites]


def site_stats(site: DemoSite) -> SiteStats:
    api = site.admin()
    produced = api.count("Event Update Log")
    logs = api.get_list("Event Sync Log", fields=["status", "creation", "event"])
    synced = [log for log in logs if log["status"] == "Synced"]
    lags, starts, ends = [], [], []
    for log in synced:
        applied, committed = _stamp(log["creation"]), _stamp(json.loads(log["event"] or "{}").get("creation"))
        if applied and committed:
            lags.append(max(0.0, (applied - committed).total_seconds()))
            starts.append(committed)
            ends.append(applied)
    window = (max(ends) - min(starts)).total_seconds() if starts else 0.0
    return SiteStats(site.name, produced, len(synced), len(logs) - len(synced), tuple(lags), window)


def _stamp(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(str(value), STAMP)
    except ValueError:
        return None


def summary_table(stats: list[SiteStats]) -> Table:
    table = Table(title="Event streaming, per site", caption=(
        "produced: Event Update Logs written; synced / failed: events applied here from other sites "
        "(Event Sync Logs); lag: from the commit on the producer to the commit here; events/s: synced "
        "over the time from the first event's commit to the last one applied"))
    table.add_column("site")
    for column in ("produced", "synced", "failed", "lag p50", "lag max", "events/s"):
        table.add_column(column, justify="right")
    for s in stats:
        table.add_row(
            s.name, str(s.produced), str(s.synced), f"[red]{s.failed}[/red]" if s.failed else "0",
            _duration(statistics.median(s.lags)) if s.lags else "-", _duration(max(s.lags)) if s.lags else "-",
            f"{s.throughput:.0f}" if s.synced else "-",
        )
    return table


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def show_verdict(console: Console, verdict: Verdict) -> None:
    compared = ", ".join(f"{n} {doctype}" for doctype, n in verdict.compared.items())
    if verdict.converged:
        console.print(f"[bold green]converged[/bold green]: every streamed document matches its copy "
                      f"({compared} copies compared)")
        return
    console.print(f"[bold red]not converged[/bold red]: {len(verdict.differences)} difference(s) "
                  f"({compared} copies compared)")
    for line in verdict.differences[:MAX_DIFFERENCES_SHOWN]:
        console.print(f"  - {line}", markup=False)
    if len(verdict.differences) > MAX_DIFFERENCES_SHOWN:
        console.print(f"  … and {len(verdict.differences) - MAX_DIFFERENCES_SHOWN} more")


def logins_table(cluster: Cluster) -> Table:
    table = Table(title="The sites, for the web UI (log in, then open Event Sync Log / Event Update Log)")
    for column in ("site", "web UI", "user", "password"):
        table.add_column(column)
    for site in cluster.sites:
        table.add_row(site.name, f"{site.url}/app", "Administrator", site.admin_password)
    table.caption = f"Event Subscriber on every site: {SUBSCRIBER}; sites folder: {cluster.root}"
    return table
