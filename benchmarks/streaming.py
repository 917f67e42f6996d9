"""What streaming costs a site, and how fast a consumer catches up: each figure a ratio measured
in one run, on SQLite and PostgreSQL, beside the physical limit it is measured against.

    python -m benchmarks.streaming                  # every figure, full sizes, both backends
    python -m benchmarks.streaming --quick          # a seconds-long smoke run (no figure means anything)
    python -m benchmarks.streaming --only latency --backend sqlite
    python -m benchmarks.streaming --json > figures.json

The figures (docs/performance.md says how each is measured and why that way):

  write overhead       Document-layer inserts and updates of ToDo, one transaction each, on a site
                       with one approved consumer vs on a site with none
  apply efficiency     a consumer's catch-up rate (ToDo creates applied per second) vs the same
                       site's own Document-layer insert rate for the same documents
  dependency batching  requests to the producer for one invoice whose 100 Items the consumer lacks
  latency              producer commit → visible on the consumer, notification-driven, 50 writes/s
  catch-up at scale    and deep cursor: see benchmarks/scale.py
  HTTP API             see benchmarks/http.py
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from benchmarks import harness, scale
from benchmarks import http as http_bench
from benchmarks.harness import Workspace, median, todo
from docstream.site import Site


@dataclass(frozen=True)
class Sizes:
    overhead_rounds: int = 30
    overhead_ops: int = 100
    apply_rounds: int = 3
    apply_events: int = 2000
    invoice_items: int = 100
    latency_seconds: float = 30.0
    latency_rate: float = 50.0
    catchup_events: int = 100_000
    deep_events: int = 1_000_000
    http_seconds: float = 5.0
    http_rounds: int = 3


QUICK = Sizes(overhead_rounds=2, overhead_ops=20, apply_rounds=1, apply_events=50, invoice_items=100,
              latency_seconds=1.0, catchup_events=300, deep_events=2000, http_seconds=0.3, http_rounds=1)
FIGURES = ("write overhead", "apply efficiency", "dependency batching", "latency", "catch-up at scale",
           "deep cursor", "HTTP API")


# -- write overhead ---------------------------------------------------------------------------------

def write_overhead(backend: str, sizes: Sizes) -> dict[str, Any]:
    """Inserts, then updates of those documents, each its own transaction, in rounds that alternate
    between a site with no consumer and a site with one approved consumer of ToDo (whose
    notifications go to a sink process). The ratio of each round is paired, so a busy spell of the
    shared machine hits both sides of it; the figure is the median over rounds. The best-of ratio
    (fastest streamed round / fastest plain round) is reported beside it."""
    with Workspace(backend) as ws:
        plain, streamed = ws.site("plain.local"), ws.site("streamed.local")
        harness.sink_consumer(streamed, ws.sink(), "ToDo")
        n = sizes.overhead_ops
        for site in (plain, streamed):  # warm up: caches, the notifier thread, the sink connection
            _inserts_and_updates(site, range(n), -1)
        rounds: dict[str, list[float]] = {"insert": [], "update": [], "both": []}
        times: dict[str, dict[str, float]] = {s: {"insert": 0.0, "update": 0.0} for s in ("plain", "streamed")}
        best = {"plain": float("inf"), "streamed": float("inf")}
        for r in range(sizes.overhead_rounds):
            order = [("plain", plain), ("streamed", streamed)]
            if r % 2:
                order.reverse()
            this: dict[str, dict[str, float]] = {}
            for label, site in order:
                this[label] = _inserts_and_updates(site, range(r * n, (r + 1) * n), r)
                for kind in ("insert", "update"):
                    times[label][kind] += this[label][kind]
                best[label] = min(best[label], this[label]["insert"] + this[label]["update"])
            for kind in ("insert", "update"):
                rounds[kind].append(this["streamed"][kind] / this["plain"][kind])
            rounds["both"].append(sum(this["streamed"].values()) / sum(this["plain"].values()))
        logs = streamed.db.value('SELECT COUNT(*) FROM "tabEvent Update Log"')
        expected = 2 * n * (sizes.overhead_rounds + 1)
        if logs != expected:
            raise RuntimeError(f"write overhead: {logs} update logs on the streamed site, expected {expected}")
        raw = harness.raw_limits(ws, n * sizes.overhead_rounds)
        floor = harness.raw_log_floor(ws, n, sizes.overhead_rounds)
        raw.update(log_floor=floor["ratio"], log_floor_min=floor["min"], log_floor_max=floor["max"],
                   log_floor_extra_us=floor["logged_us"] - floor["plain_us"],
                   lean_floor=floor["lean_ratio"], lean_floor_extra_us=floor["lean_us"] - floor["plain_us"])
    total_ops = n * sizes.overhead_rounds
    plain_insert_us = times["plain"]["insert"] / total_ops * 1e6
    # what the log's SQL alone would make of the Document layer's plain insert — this design's
    # statement, or the leanest row there could be: about the lowest insert ratio code could reach
    # here (about: the raw transactions are not shaped exactly as the Document layer's)
    raw["insert_ratio_bound"] = 1 + max(0.0, raw["log_floor_extra_us"]) / plain_insert_us
    raw["insert_ratio_bound_lean"] = 1 + max(0.0, raw["lean_floor_extra_us"]) / plain_insert_us
    return {
        "ratio": median(rounds["both"]), "best_of_ratio": best["streamed"] / best["plain"],
        "ratio_insert": median(rounds["insert"]), "ratio_update": median(rounds["update"]),
        "rounds": sizes.overhead_rounds, "ops_per_round": n,
        "rates": {label: {kind: total_ops / t for kind, t in kinds.items()} for label, kinds in times.items()},
        "raw": raw,
    }


def _inserts_and_updates(site: Site, numbers: range, round_no: int) -> dict[str, float]:
    session = site.session()
    docs = [todo(i) for i in numbers]
    start = time.perf_counter()
    names = [session.insert(doc)["name"] for doc in docs]
    middle = time.perf_counter()
    for name in names:
        session.update("ToDo", name, {"status": "Closed", "description": f"done in round {round_no}"})
    return {"insert": middle - start, "update": time.perf_counter() - middle}


# -- apply efficiency -------------------------------------------------------------------------------

def apply_efficiency(backend: str, sizes: Sizes) -> dict[str, Any]:
    """Rounds of: the producer writes N ToDos; the consumer pulls them in-process from the served
    producer (rate = N / seconds of the pull); the consumer inserts the same N documents itself
    through the Document layer, one transaction each and then all in one (alternating which goes
    first). The figure is the median of the per-round ratio apply rate / own per-insert rate."""
    from docstream.streaming.pull import pull_producer

    n = sizes.apply_events
    with Workspace(backend) as ws:
        producer, consumer = ws.site("hq.local", served=True), ws.site("store.local", served=True)
        ws.serve(producer, worker=False)
        ws.serve(consumer, worker=False)  # answers the producer's notifications; only we pull
        harness.subscribe(producer, consumer, [{"ref_doctype": "ToDo", "use_same_name": 1}])
        _write_todos(producer, range(50))
        pull_producer(consumer, producer.url)  # warm up
        apply_rates, own_rates, one_tx_rates, ratios = [], [], [], []
        for r in range(sizes.apply_rounds):
            docs = [todo(i) for i in range(r * n, (r + 1) * n)]
            _write_todos(producer, range(r * n, (r + 1) * n))

            def apply() -> None:
                counts = pull_producer(consumer, producer.url)
                if counts["synced"] != n:
                    raise RuntimeError(f"apply efficiency: {counts} applied, expected {n} synced")

            def own() -> None:
                session = consumer.session()
                for doc in docs:
                    session.insert(doc)

            def own_one_tx() -> None:
                session = consumer.session()
                with consumer.db.transaction():
                    for doc in docs:
                        session.insert(doc)

            steps = [apply, own, own_one_tx] if r % 2 == 0 else [own, own_one_tx, apply]
            seconds = {step.__name__: harness.timed(step) for step in steps}
            apply_rates.append(n / seconds["apply"])
            own_rates.append(n / seconds["own"])
            one_tx_rates.append(n / seconds["own_one_tx"])
            ratios.append(apply_rates[-1] / own_rates[-1])
        raw = harness.raw_limits(ws, n)
        page_size = consumer.settings["pull_page_size"]
    return {
        "ratio": median(ratios), "ratio_vs_one_tx": median([a / o for a, o in zip(apply_rates, one_tx_rates)]),
        "events_per_round": n, "rounds": sizes.apply_rounds, "page_size": page_size,
        "apply_events_per_s": median(apply_rates), "own_inserts_per_s": median(own_rates),
        "own_inserts_one_tx_per_s": median(one_tx_rates), "raw": raw,
    }


def _write_todos(site: Site, numbers: range) -> None:
    session = site.session()
    with site.db.transaction():
        for i in numbers:
            session.insert(todo(i))


# -- dependency batching ----------------------------------------------------------------------------

def dependency_batching(backend: str, sizes: Sizes) -> dict[str, Any]:
    """One Sales Invoice with 100 rows, each a different Item the consumer lacks (and its Customer
    and Company): the requests the consumer's pull makes to the producer, counted at the client."""
    from docstream.streaming.pull import pull_producer

    with Workspace(backend) as ws:
        producer, consumer = ws.site("hq.local", served=True), ws.site("store.local", served=True)
        ws.serve(producer, worker=False)
        ws.serve(consumer, worker=False)
        harness.subscribe(producer, consumer, [{"ref_doctype": "Sales Invoice", "use_same_name": 0}])
        session = producer.session()
        with producer.db.transaction():
            session.insert({"doctype": "Company", "company_name": "Bench Corp", "abbr": "BC"})
            session.insert({"doctype": "Customer", "customer_name": "Bench Buyer"})
            codes = [f"BENCH-{i:04d}" for i in range(sizes.invoice_items)]
            for code in codes:
                session.insert({"doctype": "Item", "item_code": code, "standard_rate": 1})
        session.insert({"doctype": "Sales Invoice", "customer": "Bench Buyer", "company": "Bench Corp",
                        "items": [{"item_code": c, "qty": 1, "rate": 1} for c in codes]})
        with harness.counting_requests(producer.url) as calls:
            seconds = harness.timed(lambda: pull_producer(consumer, producer.url))
        arrived = consumer.db.value('SELECT COUNT(*) FROM "tabItem"')
        if arrived != len(codes):
            raise RuntimeError(f"dependency batching: {arrived} Items arrived, expected {len(codes)}")
    return {"requests": len(calls), "by_method": {m: calls.count(m) for m in sorted(set(calls))},
            "items": len(codes), "seconds": seconds, "floor": 2}


# -- latency ----------------------------------------------------------------------------------------

def latency(backend: str, sizes: Sizes) -> dict[str, Any]:
    """Two served sites; the consumer's own background worker pulls when notified. A writer inserts
    ToDos into the producer at a steady rate, in-process (so the moment of commit is known: when
    ``insert`` returns); a poller reads the consumer's database every 2 ms and notes when each
    document becomes visible there."""
    with Workspace(backend) as ws:
        producer, consumer = ws.site("hq.local", served=True), ws.site("store.local", served=True)
        ws.serve(producer, worker=False)
        ws.serve(consumer, worker=True)
        harness.subscribe(producer, consumer, [{"ref_doctype": "ToDo", "use_same_name": 1}])
        _paced_writes(producer, consumer, 1.0, sizes.latency_rate)  # warm up
        samples = _paced_writes(producer, consumer, sizes.latency_seconds, sizes.latency_rate)
        floor = _round_trip(producer)
    ms = [s * 1000 for s in samples]
    return {"p50_ms": harness.percentile(ms, 50), "p99_ms": harness.percentile(ms, 99), "max_ms": max(ms),
            "writes": len(ms), "rate": sizes.latency_rate, "floor_ms": floor}


def _paced_writes(producer: Site, consumer: Site, seconds: float, rate: float) -> list[float]:
    committed: dict[str, float] = {}
    visible: dict[str, float] = {}
    lock = threading.Lock()
    done = threading.Event()

    def poll() -> None:
        while True:
            with lock:
                waiting = [n for n in committed if n not in visible]
            if waiting:
                marks = ", ".join("?" for _ in waiting)
                found = consumer.db.sql(f'SELECT name FROM "tabToDo" WHERE name IN ({marks})', waiting)
                now = time.perf_counter()
                with lock:
                    for row in found:
                        visible[row["name"]] = now
            elif done.is_set():
                return
            time.sleep(0.002)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    session = producer.session()
    count = int(seconds * rate)
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        name = session.insert(todo(i))["name"]
        stamp = time.perf_counter()
        with lock:
            committed[name] = stamp
    done.set()
    poller.join(timeout=120)
    missing = [n for n in committed if n not in visible]
    if missing:
        raise RuntimeError(f"latency: {len(missing)} of {len(committed)} writes never became visible on the consumer")
    return [visible[n] - committed[n] for n in committed]


def _round_trip(producer: Site) -> float:
    """The floor: one request to the served producer and its answer (ping), median of 50, in ms."""
    import httpx

    with httpx.Client() as client:
        times = [harness.timed(lambda: client.get(producer.url + "/api/method/ping")) for _ in range(50)]
    return median(times) * 1000


# -- the run ------------------------------------------------------------------------------------------

RUNNERS = {
    "write overhead": write_overhead, "apply efficiency": apply_efficiency,
    "dependency batching": dependency_batching, "latency": latency,
    "catch-up at scale": scale.catch_up, "deep cursor": scale.deep_cursor,
    "HTTP API": lambda backend, sizes: http_bench.measure(backend, sizes.http_seconds, sizes.http_rounds),
}


def run(backends: list[str], figures: list[str], sizes: Sizes, log: Any = None) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    for backend in backends:
        for figure in figures:
            start = time.perf_counter()
            value = RUNNERS[figure](backend, sizes)
            value["elapsed_s"] = time.perf_counter() - start
            results.setdefault(figure, {})[backend] = value
            if log:
                print(f"  {backend:<8} {figure:<20} {summary(figure, value)}  ({value['elapsed_s']:.0f} s)", file=log, flush=True)
    return results


def summary(figure: str, v: dict[str, Any]) -> str:
    if figure == "write overhead":
        return (f"{v['ratio']:.2f}x (insert {v['ratio_insert']:.2f}x, update {v['ratio_update']:.2f}x, best-of {v['best_of_ratio']:.2f}x); "
                f"streamed {v['rates']['streamed']['insert']:,.0f} inserts/s, {v['rates']['streamed']['update']:,.0f} updates/s; "
                f"plain {v['rates']['plain']['insert']:,.0f} / {v['rates']['plain']['update']:,.0f}; "
                f"raw executemany {v['raw']['executemany_rows_per_s']:,.0f} rows/s, raw tx per row {v['raw']['per_row_tx_rows_per_s']:,.0f}; "
                f"raw SQL floor of the ratio (inserts, the log's statement alone) {v['raw']['log_floor']:.2f}x "
                f"(rounds {v['raw']['log_floor_min']:.2f}–{v['raw']['log_floor_max']:.2f}x): "
                f"+{v['raw']['log_floor_extra_us']:.0f} µs per insert, on the Document layer's plain insert "
                f"{v['raw']['insert_ratio_bound']:.2f}x; the leanest log row (a bare table, the database's own numbering) "
                f"{v['raw']['lean_floor']:.2f}x, +{v['raw']['lean_floor_extra_us']:.0f} µs, on the plain insert "
                f"{v['raw']['insert_ratio_bound_lean']:.2f}x")
    if figure == "apply efficiency":
        return (f"{v['ratio']:.2f} ({v['apply_events_per_s']:,.0f} events/s applied vs {v['own_inserts_per_s']:,.0f} own inserts/s; "
                f"{v['ratio_vs_one_tx']:.2f} vs {v['own_inserts_one_tx_per_s']:,.0f} inserts/s in one tx; "
                f"raw executemany {v['raw']['executemany_rows_per_s']:,.0f} rows/s)")
    if figure == "dependency batching":
        return f"{v['requests']} requests {v['by_method']} for {v['items']} Items in {v['seconds']:.2f} s (floor {v['floor']})"
    if figure == "latency":
        return (f"p50 {v['p50_ms']:.0f} ms, p99 {v['p99_ms']:.0f} ms, max {v['max_ms']:.0f} ms over {v['writes']} writes "
                f"at {v['rate']:.0f}/s (floor: one loopback round trip {v['floor_ms']:.1f} ms)")
    if figure == "catch-up at scale":
        return (f"{v['events']:,} events in {v['seconds']:.1f} s = {v['events_per_s']:,.0f} events/s; "
                f"peak RSS growth {v['rss_growth_mb']:.0f} MB (baseline {v['rss_baseline_mb']:.0f} MB); "
                f"raw executemany {v['raw']['executemany_rows_per_s']:,.0f} rows/s")
    if figure == "deep cursor":
        return (f"{v['ratio']:.2f}x in-process ({v['start_ms']:.1f} → {v['end_ms']:.1f} ms), "
                f"{v['http_ratio']:.2f}x over HTTP ({v['http_start_ms']:.1f} → {v['http_end_ms']:.1f} ms), "
                f"bare SQL page {v['bare_start_ms']:.2f} → {v['bare_end_ms']:.2f} ms; {v['events']:,} events, page {v['limit']}")
    if figure == "HTTP API":
        r = v["requests_per_s"]
        return ", ".join(f"{k} {r[k]:,.0f}/s" + (f" ({v['ratio_to_hello'][k]:.2f} of hello)" if k in v["ratio_to_hello"] else "")
                         for k in r)
    return json.dumps(v)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run at tiny sizes")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument("--only", action="append", choices=FIGURES, help="run only this figure (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    if "postgres" in backends and not harness.pg_reachable():
        if args.backend == "postgres":
            print(f"PostgreSQL is not reachable at {harness.PG_BASE}", file=sys.stderr)
            return 1
        print(f"PostgreSQL is not reachable at {harness.PG_BASE}: SQLite only", file=sys.stderr)
        backends.remove("postgres")
    figures = args.only or list(FIGURES)
    command = "python -m benchmarks.streaming " + " ".join(argv if argv is not None else sys.argv[1:])
    head = {"machine": harness.machine(), "command": command.strip(), "load_before": harness.load_average()}
    if not args.json:
        print(f"machine: {head['machine']}\ncommand: {head['command']}\nload average before: {head['load_before']}\n")
    results = run(backends, figures, sizes, log=sys.stderr if args.json else sys.stdout)
    head["load_after"] = harness.load_average()
    if args.json:
        print(json.dumps({**head, "results": results}, indent=2, default=str))
    else:
        print(f"\nload average after: {head['load_after']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
