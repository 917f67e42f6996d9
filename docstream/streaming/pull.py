"""Pulling from a producer: fetch a page after the cursor, apply it, advance the cursor — repeat.

Each page is applied in one local transaction together with its Event Sync Logs and the new
cursor (compare-and-set against the cursor it was fetched from). Memory stays bounded by one
page; progress is reported page by page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from docstream.errors import DocstreamError, DoesNotExistError, LogRewoundError, MalformedRequestError, TransientError
from docstream.model.types import now
from docstream.streaming import checkpoint
from docstream.streaming.apply import Applier
from docstream.streaming.producers import mirror_statuses, producer_remote
from docstream.streaming.urls import normalise_url

Progress = Callable[[int, int], None]
LEASE_WAIT_SECONDS = 120
REBASELINE_SECONDS = 900  # how long a consumer waits for its producer to send it a new baseline
log = logging.getLogger("docstream.pull")


def pull(site: Any, producer_url: str | None = None, progress: Progress | None = None) -> dict[str, int]:
    """Pull and apply everything each producer had when the call began; counts of the outcome."""
    totals = {"synced": 0, "failed": 0, "held": 0}
    for name in producer_names(site, producer_url):
        counts = pull_producer(site, name, progress)
        for key in totals:
            totals[key] += counts[key]
    return totals


def producer_names(site: Any, producer_url: str | None) -> list[str]:
    """Every Event Producer's name, or the one of ``producer_url`` (DoesNotExistError: none)."""
    names = [r["name"] for r in site.db.sql('SELECT name FROM "tabEvent Producer" ORDER BY name')]
    if producer_url is None:
        return names
    wanted = normalise_url(producer_url, "Producer URL")
    if wanted not in names:
        raise DoesNotExistError(f"no Event Producer {wanted} on this site", doctype="Event Producer", name=wanted)
    return [wanted]


def pull_producer(site: Any, name: str, progress: Progress | None = None, rebaseline: bool = False) -> dict[str, int]:
    """Pull from the Event Producer ``name``; with ``rebaseline``, ask it first to send every
    subscribed document again (a consumer that lost or changed copies by hand gets them back)."""
    db = site.db
    checkpoint.ensure(db, name)
    owner = checkpoint.owner_id()
    _wait_for_lease(db, name, owner)
    try:
        checkpoint.take_notified(db, name)
        if rebaseline:
            state = checkpoint.state(db, name)
            remote = producer_remote(site, site.session("Administrator", ignore_permissions=True).get("Event Producer", name))
            _rebaseline(site, remote, name, int(state["cursor"]), state.get("mark"), rewound=False)
        counts = _pull_pages(site, name, owner, progress)
        checkpoint.record_success(db, name, now())
        return counts
    except Exception as exc:  # an unexpected one too: shown as the last error and backed off, never a silent loop
        checkpoint.record_failure(db, name, _failure(exc), site.settings["retry_max_delay"])
        raise
    finally:
        checkpoint.release_lease(db, name, owner)


def _failure(exc: Exception) -> str:
    if isinstance(exc, DocstreamError):
        return exc.message
    return f"unexpected error (a bug in docstream; the site's log has the traceback): {type(exc).__name__}: {exc}"


def _wait_for_lease(db: Any, name: str, owner: str) -> None:
    deadline = time.monotonic() + LEASE_WAIT_SECONDS
    while not checkpoint.try_lease(db, name, owner):
        if time.monotonic() > deadline:
            raise TransientError(f"another pull from {name} has held the lease for over {LEASE_WAIT_SECONDS}s")
        time.sleep(0.05)


def _pull_pages(site: Any, name: str, owner: str, progress: Progress | None) -> dict[str, int]:
    """Page after page until the head seen at the start. While a page is applied, the next one is
    already being fetched (it starts where this one ends, whatever applying it does: the cursor
    moves to the page's end): the producer builds a page while the consumer writes one. A producer
    whose log was rewound under the cursor (or pruned past it) is asked for a new baseline, once
    per pull."""
    db = site.db
    counts = {"synced": 0, "failed": 0, "held": 0}
    target: int | None = None
    fetcher: ThreadPoolExecutor | None = None  # made when a second page is due
    ahead: Future[dict[str, Any]] | None = None
    rebaselined = False
    try:
        while True:
            producer = site.session("Administrator", ignore_permissions=True).get("Event Producer", name)
            remote = producer_remote(site, producer)
            state = checkpoint.state(db, name)
            cursor, mark = int(state["cursor"]), state.get("mark")
            try:
                page = _fetched_ahead(ahead, name) if ahead is not None else None
                if page is None or page["after"] != cursor:  # another puller moved the cursor meanwhile: fetch again
                    page = _fetch(site, remote, cursor, mark)
            except LogRewoundError:
                if rebaselined:
                    raise
                _rebaseline(site, remote, name, cursor, mark)
                rebaselined, target, ahead = True, None, None
                continue
            producer = _mirror(site, producer, page["doctypes"])
            target = page["head"] if target is None else target
            last = page["last_sequence"]
            done = last >= target or last <= cursor
            ahead = None
            if not done and name not in _NOT_AHEAD:
                fetcher = fetcher or ThreadPoolExecutor(1, thread_name_prefix="pull-ahead")
                ahead = fetcher.submit(_fetch, site, remote, last, page["last_mark"], cursor)
            applied = _apply_page(site, producer, remote, cursor, page)
            for key in counts:
                counts[key] += applied[key]
            checkpoint.renew_lease(db, name, owner)
            if progress:
                progress(last, page["head"])
            if done:
                return counts
    finally:
        if fetcher is not None:  # a page fetched ahead of a failure is dropped; nothing waits for it
            fetcher.shutdown(wait=False, cancel_futures=True)


_NOT_AHEAD: set[str] = set()  # producers of an earlier version, which take no ``committed``: no page fetched ahead


def _fetched_ahead(ahead: Future[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The page fetched ahead; None when the producer refused it for its ``committed`` (a version
    before it: its pages are fetched one after the other from then on, by this process)."""
    try:
        return ahead.result()
    except LogRewoundError:
        raise
    except DocstreamError as exc:
        if "'committed'" not in exc.message:
            raise
        _NOT_AHEAD.add(name)
        return None


def _fetch(site: Any, remote: Any, cursor: int, mark: str | None, committed: int | None = None) -> dict[str, Any]:
    """The page after ``cursor``. ``committed`` is the cursor this site has committed when that
    is below ``cursor`` (a page fetched ahead, while the one before it is applied): the producer
    prunes only what a consumer has committed, so a crash before that commit loses nothing."""
    limit = site.settings["pull_page_size"]
    args: dict[str, Any] = {"after_mark": mark} if mark is not None else {}
    if committed is not None and committed != cursor:
        args["committed"] = committed
    page = remote.call("docstream.streaming.get_updates", event_consumer=site.url, after=cursor, limit=limit, **args)
    return {**validate_page(page, cursor, limit), "after": cursor}


def _rebaseline(site: Any, remote: Any, name: str, cursor: int, mark: str | None, rewound: bool = True) -> None:
    """The producer's log no longer holds what the cursor points at (or, not ``rewound``, a new
    baseline was asked for here): it sends every subscribed document again (as Creates, applied
    as upserts) and the cursor moves back to read them. On a large site that takes a while: the
    call waits long, and asked again for the same refused cursor (after a timeout, a crash) the
    producer gives the same answer without sending everything twice."""
    args: dict[str, Any] = {"known": checkpoint.known_marks(site.db, name)}
    if rewound:
        args.update(rewound_from=cursor, **({"rewound_mark": mark} if mark is not None else {}))
    answer = remote.patient(REBASELINE_SECONDS).call("docstream.streaming.rebaseline", event_consumer=site.url, **args)
    if (not isinstance(answer, dict) or not isinstance(answer.get("after"), int) or answer["after"] < 0
            or not isinstance(answer.get("documents"), int) or not isinstance(answer.get("mark"), (str, type(None)))):
        raise MalformedRequestError(f"the producer's answer to a re-baseline is malformed: {str(answer)[:200]}")
    why = (f"the update log of {name} was rewound below sequence {cursor} (restored from a backup, or its last "
           "commits were lost)" if rewound else f"a new baseline of {name} was asked for here")
    note = f"{now()}: {why}; it sent its {answer['documents']} subscribed documents again, read from sequence {answer['after']}"
    with site.db.transaction():
        if not checkpoint.rebase(site.db, name, cursor, answer["after"], answer["mark"], note):
            raise _Raced()
    log.warning("%s", note)


def validate_page(page: Any, cursor: int, limit: int) -> dict[str, Any]:
    """Refuse a malformed page whole, before anything is written."""
    if not isinstance(page, dict) or not isinstance(page.get("events"), list):
        raise MalformedRequestError("the producer's page has no list of events")
    if len(page["events"]) > limit:
        raise MalformedRequestError(f"the producer's page holds {len(page['events'])} events; {limit} were asked for")
    for key in ("last_sequence", "head"):
        if not isinstance(page.get(key), int):
            raise MalformedRequestError(f"the producer's page has no whole-number {key}")
    last = cursor
    for event in page["events"]:
        if not isinstance(event, dict) or event.get("update_type") not in ("Create", "Update", "Delete"):
            raise MalformedRequestError(f"the producer's page holds a malformed event: {str(event)[:200]}")
        if not isinstance(event.get("sequence"), int) or event["sequence"] <= last:
            raise MalformedRequestError("the producer's page holds events out of order")
        if not isinstance(event.get("ref_doctype"), str) or not isinstance(event.get("docname"), str):
            raise MalformedRequestError("an event of the producer's page has no ref_doctype or docname")
        if event["update_type"] != "Delete" and not isinstance(event.get("data"), dict):
            raise MalformedRequestError(f"the {event['update_type']} event {event['sequence']} carries no document")
        last = event["sequence"]
    if page["last_sequence"] < last:
        raise MalformedRequestError("the producer's page ends before its last event")
    if page["last_sequence"] > page["head"]:
        raise MalformedRequestError("the producer's page reaches past its own head")
    if not isinstance(page.get("last_mark"), (str, type(None))):
        raise MalformedRequestError("the producer's page has a last_mark that is not text")
    page.setdefault("last_mark", None)  # a producer of an older version sends none
    if not isinstance(page.get("doctypes"), list):
        page["doctypes"] = []
    return page


def _mirror(site: Any, producer: dict[str, Any], statuses: list[dict[str, Any]]) -> dict[str, Any]:
    """The producer's approvals, copied onto the Event Producer's rows when they changed."""
    session = site.session("Administrator", ignore_permissions=True, incoming=True)
    if not statuses or not mirror_statuses(session, producer, statuses):
        return producer
    return session.save(producer)


def _apply_page(site: Any, producer: dict[str, Any], remote: Any, cursor: int, page: dict[str, Any]) -> dict[str, int]:
    db = site.db
    applier = Applier(site, producer, remote)
    with db.transaction():
        if not checkpoint.advance(db, producer["name"], cursor, cursor, page["head"]):  # locks the state row
            raise _Raced()
        counts = applier.apply_events(page["events"])
        if not checkpoint.advance(db, producer["name"], cursor, page["last_sequence"], page["head"], page["last_mark"]):
            raise _Raced()
        checkpoint.remember_mark(db, producer["name"], page["last_sequence"], page["last_mark"])
    return counts


class _Raced(TransientError):
    def __init__(self) -> None:
        super().__init__("another puller applied this page first")
