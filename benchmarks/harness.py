"""What every streaming benchmark needs: fresh sites on either backend, served sites, a producer and
consumer subscribed to each other, a notification sink, and honest statistics.

Everything a benchmark creates lives in one ``Workspace`` (a temporary folder, the PostgreSQL
databases it made, the processes it started) and is removed when the workspace closes, whatever
happened.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from docstream.site import Site
from docstream.storage.postgres import server_reachable

PG_BASE = os.environ.get("DOCSTREAM_BENCH_PG") or os.environ.get("DOCSTREAM_TEST_PG") or "postgresql://postgres@127.0.0.1:5432"
SUBSCRIBER = "sync@example.com"
SUBSCRIBER_ROLES = ["System Manager"]


# -- the machine ----------------------------------------------------------------------------------

def pg_reachable() -> bool:
    return server_reachable(PG_BASE)


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sqlite3

    pg = ""
    if pg_reachable():
        import psycopg

        with psycopg.connect(PG_BASE + "/postgres") as conn:
            pg = ", PostgreSQL " + str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]
    return (f"{cpu}, {os.cpu_count()} CPUs, {_memory_gb()} GB RAM, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}{pg}, {platform.system()} {platform.release()}")


def _memory_gb() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f}"
    except OSError:
        pass
    return "?"


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


# -- statistics -----------------------------------------------------------------------------------

def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """The process's resident memory, sampled on a thread: the baseline at start and the peak."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        gc.collect()
        self.baseline = rss_mb()
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.monotonic() - self._start, rss_mb()))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append((time.monotonic() - self._start, rss_mb()))

    @property
    def peak(self) -> float:
        return max([self.baseline, *(s[1] for s in self.samples)])

    @property
    def growth(self) -> float:
        return self.peak - self.baseline


# -- sites and processes ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Workspace:
    """A temporary sites folder, the PostgreSQL databases and the processes of one benchmark."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._tmp = tempfile.TemporaryDirectory(prefix="docstream-bench-")
        self.folder = Path(self._tmp.name)
        self.databases: list[str] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self.sites: list[Site] = []

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def site(self, name: str, served: bool = False) -> Site:
        """A new site; with ``served`` its host_name is a free loopback port (``serve`` it later)."""
        db_url = None
        if self.backend == "postgres":
            db_url = f"{PG_BASE}/ds_bench_{uuid.uuid4().hex[:12]}"
            self.databases.append(db_url)
        url = f"http://127.0.0.1:{free_port()}" if served else None
        site = Site.create(name, "admin", self.folder, db_url=db_url, url=url)
        self.sites.append(site)
        return site

    def serve(self, site: Site, worker: bool = True) -> str:
        """Serve ``site`` with a real ``docstream serve`` process; its URL once it answers."""
        port = int(site.url.rsplit(":", 1)[1])
        args = ["--sites-dir", str(self.folder), "--site", site.name, "serve", "--host", "127.0.0.1",
                "--port", str(port)] + ([] if worker else ["--no-worker"])
        self.spawn([sys.executable, "-m", "docstream", *args], f"{site.name}.serve.log")
        wait_ready(site.url + "/api/method/ping", self.folder / f"{site.name}.serve.log")
        return site.url

    def spawn(self, cmd: list[str], log_name: str) -> subprocess.Popen[bytes]:
        with open(self.folder / log_name, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(proc)
        return proc

    def sink(self) -> str:
        """A tiny server that answers every request with ``{"message": "ok"}``: where notifications
        go when the benchmark needs an approved consumer that does nothing with them."""
        port = free_port()
        self.spawn([sys.executable, "-m", "benchmarks.http", "--hello", str(port)], "sink.log")
        url = f"http://127.0.0.1:{port}"
        wait_ready(url + "/", self.folder / "sink.log")
        return url

    def close(self) -> None:
        for proc in self.processes:
            _stop(proc)
        for site in self.sites:
            try:
                site.close()
            except Exception:
                pass
        if self.databases:
            from docstream.storage.postgres import drop_database

            for url in self.databases:
                try:
                    drop_database(url)
                except Exception as exc:  # report, never hide a leftover database
                    print(f"could not drop {url}: {exc}", file=sys.stderr)
        self._tmp.cleanup()


def wait_ready(url: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout}s: {log.read_text(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


# -- subscriptions ------------------------------------------------------------------------------

def subscriber_keys(site: Site) -> dict[str, str]:
    """The Event Subscriber on ``site``, with API keys."""
    from docstream.auth.users import add_user, generate_keys

    session = site.session()
    if not session.exists("User", SUBSCRIBER):
        add_user(session, SUBSCRIBER, password="sync-pass-1", roles=SUBSCRIBER_ROLES)
    return generate_keys(session, SUBSCRIBER)


def subscribe(producer: Site, consumer: Site, rows: list[dict[str, Any]]) -> None:
    """Register ``consumer`` on the served ``producer`` (over HTTP, as the desk does) and approve
    every row on the producer."""
    producer_keys = subscriber_keys(producer)
    subscriber_keys(consumer)
    consumer.session().insert({
        "doctype": "Event Producer", "producer_url": producer.url, "user": SUBSCRIBER,
        "api_key": producer_keys["api_key"], "api_secret": producer_keys["api_secret"],
        "producer_doctypes": rows,
    })
    approve(producer, consumer.url)


def approve(producer: Site, consumer_url: str) -> None:
    session = producer.session()
    doc = session.get("Event Consumer", consumer_url)
    for row in doc["consumer_doctypes"]:
        row["status"] = "Approved"
    session.save(doc)


def sink_consumer(producer: Site, sink_url: str, doctype: str) -> None:
    """An approved Event Consumer of ``doctype`` on ``producer`` whose notifications go to a sink."""
    producer.session().insert({
        "doctype": "Event Consumer", "callback_url": sink_url, "user": "Administrator",
        "api_key": "sink", "api_secret": "sink-secret",
        "consumer_doctypes": [{"ref_doctype": doctype, "status": "Approved"}],
    })


@contextmanager
def counting_requests(url: str) -> Iterator[list[str]]:
    """Every call this process makes to the site at ``url``, by method name."""
    from docstream.streaming import remote

    calls: list[str] = []
    original = remote.RemoteSite.call

    def call(self: Any, method: str, **args: Any) -> Any:
        if self.url == url:
            calls.append(method)
        return original(self, method, **args)

    remote.RemoteSite.call = call  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        remote.RemoteSite.call = original  # type: ignore[method-assign]


def todo(i: int) -> dict[str, Any]:
    return {"doctype": "ToDo", "description": f"benchmark task {i}", "priority": ("Low", "Medium", "High")[i % 3]}


def raw_rows(site: Site, docs: list[dict[str, Any]]) -> tuple[str, list[list[Any]]]:
    """The INSERT and the exact rows the Document layer would store for ``docs``."""
    import secrets

    from docstream.model import rows as model_rows
    from docstream.model import validation
    from docstream.model.types import now
    from docstream.storage import quote

    meta = site.metas.get(docs[0]["doctype"])
    columns = meta.columns
    query = (f"INSERT INTO {quote(meta.table_name)} ({', '.join(quote(c) for c in columns)}) "
             f"VALUES ({', '.join('?' for _ in columns)})")
    out = []
    for doc in docs:
        clean = validation.normalise(meta, doc, site.metas.get, fill_defaults=True)
        stamp = now()
        clean.update(name=secrets.token_hex(5), owner="Administrator", creation=stamp, modified=stamp,
                     modified_by="Administrator")
        out.append([model_rows.to_db_value(meta, c, clean.get(c)) for c in columns])
    return query, out


def raw_limits(ws: Workspace, n: int) -> dict[str, float]:
    """The same ToDo rows written without the Document layer: one executemany in one transaction
    (the physical limit), and one INSERT per transaction (what a commit costs)."""
    site = ws.site("raw.local")
    query, rows = raw_rows(site, [todo(i) for i in range(n)])
    many = timed(lambda: site.db.executemany(query, rows))
    query, rows = raw_rows(site, [todo(i) for i in range(n)])

    def per_row() -> None:
        for row in rows:
            with site.db.transaction():
                site.db.sql(query, row)

    single = timed(per_row)
    return {"executemany_rows_per_s": n / many, "per_row_tx_rows_per_s": n / single}


def raw_log_floor(ws: Workspace, n: int, rounds: int) -> dict[str, float]:
    """What the update log costs in SQL alone. Three fresh sites take turns transaction by
    transaction (the order rotating, so that the commit latency of the moment — PostgreSQL's WAL
    flush varies more than the difference measured — hits all alike), each writing the exact ToDo
    rows one INSERT per transaction:

    - ``plain``: the row alone;
    - ``logged``: the row and the exact statement that appends its Create log, sent as the engine
      sends it (with the COMMIT: in one pipeline on PostgreSQL) — the floor of this design;
    - ``lean``: the row and the leanest row any log could be — the same JSON in a bare table keyed
      by a number the database gives (SQLite's rowid, a PostgreSQL ``bigserial``), one INSERT sent
      the same way — the floor of every design that logs in the change's own transaction.

    No Document layer, no hooks, no notifications; the first round warms up. The ratios of the
    summed times (``ratio``: logged / plain, with its per-round spread; ``lean_ratio``), and the
    mean time of a transaction on each side (µs)."""
    from docstream.model.types import now
    from docstream.streaming import records, updatelog

    sites = {label: ws.site(f"raw{label}.local") for label in ("plain", "logged", "lean")}
    lean_db = sites["lean"].db
    key = "seq INTEGER PRIMARY KEY" if lean_db.dialect == "sqlite" else "seq BIGSERIAL PRIMARY KEY"
    lean_db.sql(f"CREATE TABLE lean_log ({key}, data TEXT NOT NULL)")
    columns = sites["plain"].metas.get("ToDo").columns
    totals, ratios = dict.fromkeys(sites, 0.0), []
    for r in range(rounds + 1):
        work = {label: raw_rows(site, [todo(i) for i in range(n)]) for label, site in sites.items()}
        data = [records.dumps(dict(zip(columns, row))) for row in work["logged"][1]]
        logs = {"plain": [None] * n,
                "logged": [updatelog.append_statement(sites["logged"].db.dialect, "Administrator", now(), {
                    "update_type": "Create", "ref_doctype": "ToDo", "docname": row[0], "data": text})
                    for row, text in zip(work["logged"][1], data)],
                "lean": [("INSERT INTO lean_log (data) VALUES (?)", [text]) for text in data]}
        spent = dict.fromkeys(sites, 0.0)
        order = list(sites)
        for i in range(n):
            for label in order[i % 3:] + order[:i % 3]:
                db, (query, rows) = sites[label].db, work[label]
                start = time.perf_counter()
                with db.transaction():
                    db.sql(query, rows[i])
                    if logs[label][i] is not None:
                        db.defer(*logs[label][i])
                spent[label] += time.perf_counter() - start
        if r:
            ratios.append(spent["logged"] / spent["plain"])
            for label in totals:
                totals[label] += spent[label]
    ops = rounds * n
    return {"ratio": totals["logged"] / totals["plain"], "min": min(ratios), "max": max(ratios),
            "lean_ratio": totals["lean"] / totals["plain"],
            **{f"{label}_us": total / ops * 1e6 for label, total in totals.items()},
            "rounds": rounds, "ops_per_round": n}
