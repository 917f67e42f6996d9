"""Desk URLs: slugs, percent-encoded names, and redirects that stay on the site."""

from __future__ import annotations

import pytest

from docstream.errors import DoesNotExistError
from docstream.model.meta import Meta
from docstream.ui import urls
from docstream.ui.csrf import CsrfError, check_origin


def test_names_are_encoded_whole() -> None:
    assert urls.doc_url("Event Producer", "http://hq:8000/x") == "/app/event-producer/http%3A%2F%2Fhq%3A8000%2Fx"
    assert urls.new_url("Sales Invoice") == "/app/sales-invoice/new"
    assert urls.list_url("Event Sync Log", status="Failed", page=None) == "/app/event-sync-log?status=Failed"


def test_slugs_find_their_doctype() -> None:
    metas = {"Event Sync Log": Meta(name="Event Sync Log")}
    assert urls.meta_for_slug(metas, "event-sync-log").name == "Event Sync Log"
    with pytest.raises(DoesNotExistError):
        urls.meta_for_slug(metas, "nope")


@pytest.mark.parametrize("target", ["//evil.example", "http://evil.example/", "evil", "/\\evil", "", None])
def test_redirects_stay_on_the_site(target: str | None) -> None:
    assert urls.safe_redirect(target) == "/app"


def test_a_local_redirect_is_kept() -> None:
    assert urls.safe_redirect("/app/todo?status=Open") == "/app/todo?status=Open"


class _Request:
    def __init__(self, origin: str | None, host: str = "site:8000") -> None:
        self.headers = {"host": host, **({"origin": origin} if origin else {})}


def test_posts_from_another_origin_are_refused() -> None:
    check_origin(_Request(None))
    check_origin(_Request("http://site:8000"))
    with pytest.raises(CsrfError):
        check_origin(_Request("http://evil.example"))
