"""A pull fetches the next page while it applies the current one, and nothing changes for the
pages themselves: the same requests, in order, each applied whole in its own transaction."""

from __future__ import annotations

import importlib
import threading
import time

from docstream.errors import ValidationError
from docstream.site import Site
from docstream.streaming.remote import RemoteSite
from tests.streaming.conftest import Pair

pull = importlib.import_module("docstream.streaming.pull")  # the module (the package exports a function of that name)


def test_the_next_page_is_fetched_while_this_one_is_applied(serve, monkeypatch) -> None:
    pair = Pair(serve("hq.local"), serve("store.local", extra_args=["--no-worker"]))  # only this test pulls
    pair.consumer.cli("set-config", "pull_page_size", "10")
    pair.subscribe([{"ref_doctype": "ToDo", "use_same_name": 1}])
    for i in range(35):
        pair.p.insert({"doctype": "ToDo", "description": f"task {i}"})

    timeline: list[tuple[str, int, float, str]] = []
    real_fetch, real_apply = pull._fetch, pull._apply_page

    def fetch(site, remote, cursor, mark, committed=None):  # the real fetch, its start noted
        timeline.append(("fetch", cursor, time.monotonic(), threading.current_thread().name, committed))
        return real_fetch(site, remote, cursor, mark, committed)

    def apply(site, producer, remote, cursor, page):  # the real apply, made slow enough to overlap
        timeline.append(("apply", cursor, time.monotonic(), "start", None))
        time.sleep(0.3)
        counts = real_apply(site, producer, remote, cursor, page)
        timeline.append(("applied", cursor, time.monotonic(), "end", None))
        return counts

    monkeypatch.setattr(pull, "_fetch", fetch)
    monkeypatch.setattr(pull, "_apply_page", apply)
    site = Site.open("store.local", pair.consumer.sites_dir)
    try:
        counts = pull.pull_producer(site, pair.producer.url)
        assert counts["synced"] == 35 and counts["failed"] == 0
        assert site.db.value('SELECT COUNT(*) FROM "tabToDo"') == 35
    finally:
        site.close()
    fetches = [(cursor, thread) for kind, cursor, _, thread, _ in timeline if kind == "fetch"]
    assert len(fetches) == 4, timeline  # 35 events in pages of 10: one request per page, none twice
    assert [c for c, _ in fetches] == sorted(c for c, _ in fetches), "pages are asked for in order"
    assert all(thread.startswith("pull-ahead") for _, thread in fetches[1:]), "later pages are fetched ahead"
    # each page fetched ahead tells the producer what is committed: the start of the page being applied
    assert [committed for kind, _, _, _, committed in timeline if kind == "fetch"][1:] == [c for c, _ in fetches][:-1]
    at = {(kind, cursor): when for kind, cursor, when, _, _ in timeline}
    for (first, _), (second, _) in zip(fetches, fetches[1:]):
        assert at[("fetch", second)] < at[("applied", first)], f"page after {second} was not fetched during the apply"


def test_a_producer_of_an_earlier_version_is_read_a_page_at_a_time(serve, monkeypatch) -> None:
    """A producer that predates ``committed`` refuses it as an unknown argument: the consumer then
    fetches its pages one after the other (each asked for from the committed cursor, so nothing it
    prunes can be unapplied here), and loses nothing. (The old producer is played by refusing the
    argument with the binder's own words: an earlier version can't be served here.)"""
    pair = Pair(serve("hq.local"), serve("store.local", extra_args=["--no-worker"]))
    pair.consumer.cli("set-config", "pull_page_size", "10")
    pair.subscribe([{"ref_doctype": "ToDo", "use_same_name": 1}])
    for i in range(25):
        pair.p.insert({"doctype": "ToDo", "description": f"task {i}"})
    real_call, asked = RemoteSite.call, []

    def call(self, method, **args):
        if method == "docstream.streaming.get_updates":
            asked.append((args["after"], "committed" in args))
            if "committed" in args:
                raise ValidationError(f"{method} got unknown argument 'committed'; it takes event_consumer, after, "
                                      "limit, after_mark")
        return real_call(self, method, **args)

    monkeypatch.setattr(RemoteSite, "call", call)
    pull._NOT_AHEAD.discard(pair.producer.url)
    site = Site.open("store.local", pair.consumer.sites_dir)
    try:
        assert pull.pull_producer(site, pair.producer.url)["synced"] == 25
        assert site.db.value('SELECT COUNT(*) FROM "tabToDo"') == 25
        assert pull.pull_producer(site, pair.producer.url)["synced"] == 0
    finally:
        site.close()
        pull._NOT_AHEAD.discard(pair.producer.url)
    assert asked == [(0, False), (10, True), (10, False), (20, False), (25, False)], asked
