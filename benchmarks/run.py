"""Insert N ToDos through the Document layer and compare with raw inserts of the same rows.

    python -m benchmarks                 # 10,000 ToDos on SQLite and (when reachable) PostgreSQL
    python -m benchmarks --quick         # a seconds-long smoke run
    python -m benchmarks --repeat 3      # best of three runs each (the figures in docs/performance.md)
    python -m benchmarks --backend sqlite --n 20000 --profile

Five ways of writing the same rows into the same table (``tabToDo``, its indexes included), each
on a freshly created site so that every run starts from the same state:

  raw executemany, 1 tx         the physical limit: prepared rows, one ``executemany``, one commit
  raw execute, tx per row       the same rows, one INSERT and one commit each
  Document, tx per insert       ``session.insert(doc)`` per ToDo, each its own transaction (realistic)
  Document, 1 tx                the same calls inside one outer transaction
  Document insert_many, 1 tx    one ``session.insert_many(docs)``: the batched path, one commit

A fair ratio compares like with like: the Document layer per insert against raw per row (both
pay one commit per row), and the Document layer in one transaction, one insert at a time or
batched, against raw executemany (all pay one commit). The brief's headline ratio is
Document-per-insert against raw executemany.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.harness import PG_BASE, load_average, machine, pg_reachable
from docstream.model import rows as model_rows
from docstream.model import validation
from docstream.model.types import now
from docstream.site import Site
from docstream.storage import quote

MODES = ("raw executemany, 1 tx", "raw execute, tx per row", "Document, tx per insert", "Document, 1 tx",
         "Document insert_many, 1 tx")


@dataclass
class Result:
    backend: str
    mode: str
    n: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds else float("inf")


# -- sites -------------------------------------------------------------------------------------

@contextmanager
def fresh_site(backend: str, global_hooks: bool = True) -> Iterator[Site]:
    """A new site with nothing in it but what ``new-site`` puts there; removed afterwards.
    Without ``global_hooks`` the hooks registered for every DocType (the update log's) are dropped,
    leaving the Document layer alone."""
    with tempfile.TemporaryDirectory(prefix="docstream-bench-") as folder:
        db_url = f"{PG_BASE}/ds_bench_{uuid.uuid4().hex[:10]}" if backend == "postgres" else None
        site = Site.create("bench.local", "admin", folder, db_url=db_url)
        if not global_hooks:
            for key in [k for k in site.hooks._hooks if k[1] == "*"]:  # noqa: SLF001 - measuring only
                del site.hooks._hooks[key]
        try:
            yield site
        finally:
            site.close()
            if db_url:
                from docstream.storage.postgres import drop_database

                drop_database(db_url)


def todo(i: int) -> dict[str, Any]:
    return {"doctype": "ToDo", "description": f"benchmark task {i}", "priority": ("Low", "Medium", "High")[i % 3]}


def raw_rows(site: Site, n: int) -> tuple[str, list[list[Any]]]:
    """The INSERT and the exact rows the Document layer would store for ``todo(0..n)``."""
    meta = site.metas.get("ToDo")
    columns = meta.columns
    query = (f"INSERT INTO {quote(meta.table_name)} ({', '.join(quote(c) for c in columns)}) "
             f"VALUES ({', '.join('?' for _ in columns)})")
    out = []
    for i in range(n):
        doc = validation.normalise(meta, todo(i), site.metas.get, fill_defaults=True)
        stamp = now()
        doc.update(name=secrets.token_hex(5), owner="Administrator", creation=stamp, modified=stamp,
                   modified_by="Administrator")
        out.append([model_rows.to_db_value(meta, c, doc.get(c)) for c in columns])
    return query, out


# -- the four ways ------------------------------------------------------------------------------

def raw_executemany(site: Site, n: int) -> float:
    query, rows = raw_rows(site, n)
    start = time.perf_counter()
    site.db.executemany(query, rows)
    return time.perf_counter() - start


def raw_per_row(site: Site, n: int) -> float:
    query, rows = raw_rows(site, n)
    db = site.db
    start = time.perf_counter()
    for row in rows:
        with db.transaction():
            db.sql(query, row)
    return time.perf_counter() - start


def document_per_insert(site: Site, n: int) -> float:
    docs = [todo(i) for i in range(n)]
    session = site.session()
    start = time.perf_counter()
    for doc in docs:
        session.insert(doc)
    return time.perf_counter() - start


def document_one_tx(site: Site, n: int) -> float:
    docs = [todo(i) for i in range(n)]
    session = site.session()
    start = time.perf_counter()
    with site.db.transaction():
        for doc in docs:
            session.insert(doc)
    return time.perf_counter() - start


def document_insert_many(site: Site, n: int) -> float:
    docs = [todo(i) for i in range(n)]
    session = site.session()
    start = time.perf_counter()
    session.insert_many(docs)
    return time.perf_counter() - start


RUNNERS: dict[str, Callable[[Site, int], float]] = dict(zip(MODES, (
    raw_executemany, raw_per_row, document_per_insert, document_one_tx, document_insert_many,
)))


def measure(backend: str, mode: str, n: int, global_hooks: bool = True) -> float:
    """Seconds for one run on a fresh site."""
    with fresh_site(backend, global_hooks) as site:
        seconds = RUNNERS[mode](site, n)
        stored = site.db.value('SELECT COUNT(*) FROM "tabToDo"')
        if stored != n:
            raise RuntimeError(f"{backend} {mode}: {stored} ToDos stored, expected {n}")
    return seconds


def measure_all(backend: str, n: int, repeat: int, global_hooks: bool = True) -> list[Result]:
    """The best of ``repeat`` runs per mode (the run least disturbed by whatever else the machine
    was doing, as ``timeit`` reasons). The modes take turns, so a busy spell hits them alike."""
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(repeat):
        for mode in MODES:
            times[mode].append(measure(backend, mode, n, global_hooks))
    return [Result(backend, mode, n, min(times[mode])) for mode in MODES]


def profile(backend: str, n: int, global_hooks: bool = True, top: int = 25, batched: bool = False) -> str:
    """cProfile of the Document-layer inserts: one ``insert`` per transaction, or (``batched``)
    one ``insert_many`` of them all."""
    with fresh_site(backend, global_hooks) as site:
        docs = [todo(i) for i in range(n)]
        session = site.session()
        profiler = cProfile.Profile()
        profiler.enable()
        if batched:
            session.insert_many(docs)
        else:
            for doc in docs:
                session.insert(doc)
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# -- report ---------------------------------------------------------------------------------------

def ratios(results: list[Result]) -> dict[str, float]:
    rate = {r.mode: r.rate for r in results}
    return {
        "Document tx per insert / raw executemany (headline)": rate[MODES[2]] / rate[MODES[0]],
        "Document tx per insert / raw tx per row (fair)": rate[MODES[2]] / rate[MODES[1]],
        "Document 1 tx / raw executemany (fair)": rate[MODES[3]] / rate[MODES[0]],
        "Document insert_many / raw executemany (fair, batched)": rate[MODES[4]] / rate[MODES[0]],
    }


def report(results: list[Result]) -> str:
    lines = [f"{'backend':<10} {'mode':<28} {'docs':>7} {'seconds':>9} {'docs/s':>10}"]
    for r in results:
        lines.append(f"{r.backend:<10} {r.mode:<28} {r.n:>7} {r.seconds:>9.3f} {r.rate:>10,.0f}")
    for backend in dict.fromkeys(r.backend for r in results):
        lines.append("")
        for label, value in ratios([r for r in results if r.backend == backend]).items():
            lines.append(f"{backend:<10} {label:<54} {value:>6.1%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="ToDos per run (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run (200 ToDos, one repeat)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the best counts (default 1)")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument("--profile", action="store_true",
                        help="also profile the Document-layer insert paths (one insert per transaction; insert_many)")
    parser.add_argument("--without-global-hooks", action="store_true",
                        help="drop the hooks every DocType runs (the update log's): the Document layer alone")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    n, repeat = (200, 1) if args.quick else (args.n, max(1, args.repeat))
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    if "postgres" in backends and not pg_reachable():
        if args.backend == "postgres":
            print(f"PostgreSQL is not reachable at {PG_BASE}", file=sys.stderr)
            return 1
        print(f"PostgreSQL is not reachable at {PG_BASE}: SQLite only", file=sys.stderr)
        backends.remove("postgres")

    load_before = load_average()
    hooks = not args.without_global_hooks
    results = [r for backend in backends for r in measure_all(backend, n, repeat, hooks)]
    load = f"load average {load_before} before, {load_average()} after"
    if args.json:
        print(json.dumps({
            "machine": machine(), "load": load,
            "results": [{**asdict(r), "docs_per_s": r.rate} for r in results],
            "ratios": {b: ratios([r for r in results if r.backend == b]) for b in backends},
        }, indent=2))
    else:
        command = " ".join(argv if argv is not None else sys.argv[1:])
        print(f"machine: {machine()}\n{load}\ncommand: python -m benchmarks {command}\n")
        print(report(results))
    if args.profile:
        for backend in backends:
            print(f"\n== profile: Document layer, tx per insert, {backend}, {n} ToDos\n")
            print(profile(backend, n, hooks))
            print(f"\n== profile: Document layer, insert_many, {backend}, {n} ToDos\n")
            print(profile(backend, n, hooks, batched=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
