"""Streaming at scale: a consumer catching up on a large backlog, and a page deep in a long log.

catch-up at scale  A producer's log of 100,000 events (ToDo creates, updates and deletes, mixed
                   at random with a fixed seed), written through the Document layer in
                   transactions of 500 changes. A fresh process opens the consumer site and pulls
                   the whole backlog from the served producer, sampling its resident memory
                   every 50 ms: events/s, and the peak growth of RSS over the process's RSS
                   before the pull.
deep cursor        A log of 1,000,000 events appended in bulk (rows shaped exactly as
                   ``updatelog.append_log`` writes them, by ``executemany`` in chunks of 20,000,
                   the sequence counter set to the head). One change-feed page at the end of the
                   log vs one at its start: in-process (``changefeed.get_updates``), over HTTP
                   from the served producer, and the bare SQL of the page.
"""

from __future__ import annotations

import multiprocessing
import random
import secrets
import time
from pathlib import Path
from typing import Any

from benchmarks import harness
from benchmarks.harness import Workspace, median, todo
from docstream.site import Site

BUILD_CHUNK = 500
BULK_CHUNK = 20_000
PAGE = 200


# -- catch-up at scale -------------------------------------------------------------------------------

def catch_up(backend: str, sizes: Any) -> dict[str, Any]:
    n = sizes.catchup_events
    with Workspace(backend) as ws:
        producer, consumer = ws.site("hq.local", served=True), ws.site("store.local", served=True)
        ws.serve(producer, worker=False)
        ws.serve(consumer, worker=False)
        harness.subscribe(producer, consumer, [{"ref_doctype": "ToDo", "use_same_name": 1}])
        build_seconds, mix = _build_backlog(producer, n)
        logs = producer.db.value('SELECT COUNT(*) FROM "tabEvent Update Log"')
        if logs != n:
            raise RuntimeError(f"catch-up: the producer logged {logs} events, expected {n}")
        result = _in_child(ws.folder, consumer.name, producer.url)
        want = producer.db.value('SELECT COUNT(*) FROM "tabToDo"')
        have = consumer.db.value('SELECT COUNT(*) FROM "tabToDo"')
        if want != have or result["synced"] != n:
            raise RuntimeError(f"catch-up: {result['synced']} events synced, {have} ToDos on the consumer, {want} on the producer")
        raw = harness.raw_limits(ws, min(mix["Create"], 20_000))
    return {
        "events": n, "mix": mix, "build_seconds": build_seconds, "seconds": result["seconds"],
        "events_per_s": n / result["seconds"], "rss_baseline_mb": result["baseline"],
        "rss_peak_mb": result["peak"], "rss_growth_mb": result["peak"] - result["baseline"],
        "rss_at": result["rss_at"], "raw": raw,
    }


def _build_backlog(site: Site, n: int) -> tuple[float, dict[str, int]]:
    """n changes of ToDo: ~60% creates, ~30% updates, ~10% deletes of live documents (seed 7)."""
    rng = random.Random(7)
    session = site.session()
    live: list[str] = []
    mix = {"Create": 0, "Update": 0, "Delete": 0}
    start = time.perf_counter()
    done = 0
    while done < n:
        with site.db.transaction():
            for _ in range(min(BUILD_CHUNK, n - done)):
                roll = rng.random()
                if roll < 0.6 or len(live) < 10:
                    live.append(session.insert(todo(done))["name"])
                    mix["Create"] += 1
                elif roll < 0.9:
                    session.update("ToDo", rng.choice(live), {"description": f"changed at {done}",
                                                               "status": rng.choice(("Open", "Closed"))})
                    mix["Update"] += 1
                else:
                    session.delete("ToDo", live.pop(rng.randrange(len(live))))
                    mix["Delete"] += 1
                done += 1
    return time.perf_counter() - start, mix


def _in_child(folder: Path, consumer: str, producer_url: str) -> dict[str, Any]:
    """Run the catch-up in a fresh process, so its memory is the catch-up's alone."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_catch_up_child, args=(str(folder), consumer, producer_url, queue))
    child.start()
    try:
        result = queue.get(timeout=3600)
    finally:
        child.join(timeout=60)
    if "error" in result:
        raise RuntimeError(f"catch-up child failed: {result['error']}")
    return result


def _catch_up_child(folder: str, consumer: str, producer_url: str, queue: Any) -> None:
    try:
        from docstream.streaming.pull import pull_producer

        site = Site.open(consumer, folder)
        marks: list[tuple[int, int, float]] = []

        def progress(last: int, head: int) -> None:
            marks.append((last, head, harness.rss_mb()))

        with harness.RssSampler() as sampler:
            start = time.perf_counter()
            counts = pull_producer(site, producer_url, progress)
            seconds = time.perf_counter() - start
        site.close()
        head = marks[-1][1] if marks else 1
        rss_at = {f"{pct}%": next((rss for last, _, rss in marks if last >= head * pct / 100), None)
                  for pct in (10, 50, 100)}
        queue.put({"seconds": seconds, "synced": counts["synced"], "baseline": sampler.baseline,
                   "peak": sampler.peak, "rss_at": rss_at, "pages": len(marks)})
    except BaseException as exc:  # the parent must hear of it, not wait for the timeout
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


# -- deep cursor ---------------------------------------------------------------------------------------

def deep_cursor(backend: str, sizes: Any, repeat: int = 15) -> dict[str, Any]:
    from docstream.streaming import changefeed
    from docstream.streaming.remote import RemoteSite

    n = sizes.deep_events
    with Workspace(backend) as ws:
        producer = ws.site("hq.local", served=True)
        keys = harness.subscriber_keys(producer)
        consumer = ws.sink()  # a registered consumer: the approval's notification goes to the sink
        producer.session().insert({
            "doctype": "Event Consumer", "callback_url": consumer, "user": harness.SUBSCRIBER,
            "api_key": "unused", "api_secret": "unused-secret",
            "consumer_doctypes": [{"ref_doctype": "ToDo", "status": "Approved"}],
        })
        build_seconds = bulk_log(producer, n)
        ws.serve(producer, worker=False)
        session = producer.session()
        remote = RemoteSite(producer.url, keys["api_key"], keys["api_secret"])
        # the feed reads up to SCAN_FACTOR pages of rows to fill one (for consumers that are sent few
        # of the events): the end page starts where as many rows remain, so both read the same rows
        positions = {"start": 0, "end": n - PAGE * changefeed.SCAN_FACTOR}

        def feed(after: int) -> None:
            page = changefeed.get_updates(session, consumer, after, PAGE)
            if len(page["events"]) != PAGE:
                raise RuntimeError(f"deep cursor: a page after {after} held {len(page['events'])} events")

        def http(after: int) -> None:
            page = remote.call("docstream.streaming.get_updates", event_consumer=consumer, after=after, limit=PAGE)
            if len(page["events"]) != PAGE:
                raise RuntimeError(f"deep cursor: a page after {after} held {len(page['events'])} events over HTTP")

        def bare(after: int) -> None:
            producer.db.sql('SELECT * FROM "tabEvent Update Log" WHERE sequence > ? ORDER BY sequence LIMIT ?',
                            (after, PAGE))

        out: dict[str, Any] = {"events": n, "limit": PAGE, "build_seconds": build_seconds, "repeat": repeat}
        for label, fn in (("", feed), ("http_", http), ("bare_", bare)):
            for after in positions.values():  # warm up both ends
                fn(after)
            times: dict[str, list[float]] = {k: [] for k in positions}
            for _ in range(repeat):
                for where, after in positions.items():
                    times[where].append(harness.timed(lambda: fn(after)) * 1000)
            out[f"{label}start_ms"], out[f"{label}end_ms"] = median(times["start"]), median(times["end"])
            out[f"{label}ratio"] = out[f"{label}end_ms"] / out[f"{label}start_ms"]
    return out


def bulk_log(site: Site, n: int) -> float:
    """n Create logs of ToDo, as ``append_log`` writes them (named by their sequence), by executemany."""
    from docstream.model import rows, validation
    from docstream.model.types import now
    from docstream.streaming import records, updatelog

    meta = site.metas.get("Event Update Log")
    query = rows._insert_sql(meta.table_name, tuple(meta.columns))
    template = validation.normalise(meta, {"doctype": meta.name, "update_type": "Create", "ref_doctype": "ToDo"},
                                    site.metas.get, fill_defaults=True)
    start = time.perf_counter()
    for first in range(1, n + 1, BULK_CHUNK):
        stamp = now()
        batch = []
        for seq in range(first, min(first + BULK_CHUNK, n + 1)):
            docname = secrets.token_hex(5)
            data = {**todo(seq), "name": docname, "status": "Open", "owner": "Administrator",
                    "creation": stamp, "modified": stamp, "docstatus": 0, "idx": 0}
            doc = {**template, "name": str(seq), "owner": "Administrator", "creation": stamp,
                   "modified": stamp, "modified_by": "Administrator", "docname": docname, "sequence": seq,
                   "data": records.dumps(data)}
            batch.append([rows.to_db_value(meta, c, doc.get(c)) for c in meta.columns])
        site.db.executemany(query, batch)
    updatelog.sync_sequence(site.db)  # numbered here, not by PostgreSQL's sequence: bring it up to the head
    if site.db.dialect == "postgres":
        site.db.sql('ANALYZE "tabEvent Update Log"')  # as autovacuum would have, long before a log grows this long
    return time.perf_counter() - start
