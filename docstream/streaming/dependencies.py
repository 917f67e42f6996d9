"""Dependency syncing: every Link, Dynamic Link and child-row link a document needs is fetched
from the producer before the document is applied — in batches (one request per level of
depth, not one per link), recursively, with cycles handled — inside the event's transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from docstream.errors import LinkValidationError
from docstream.model.documents import Session
from docstream.model.meta import Meta

Fetch = Callable[[list[list[str]]], dict[str, Any]]
HasCopy = Callable[[Session, str, str], bool]
NEVER_FETCHED = frozenset({"DocType", "Role"})


def links_of(meta: Meta, doc: dict[str, Any], get_meta: Callable[[str], Meta]) -> set[tuple[str, str]]:
    """(doctype, name) of everything ``doc`` links to, child rows included."""
    out: set[tuple[str, str]] = set()
    for field in meta.fields:
        value = doc.get(field.fieldname)
        if field.is_table:
            for row in value or []:
                out |= links_of(get_meta(field.options), row, get_meta)
        elif value not in (None, "") and field.fieldtype == "Link":
            out.add((field.options, str(value)))
        elif value not in (None, "") and field.fieldtype == "Dynamic Link" and doc.get(field.options):
            out.add((str(doc[field.options]), str(value)))
    return out


def ensure_dependencies(session: Session, meta: Meta, doc: dict[str, Any], fetch: Fetch,
                        insert: Callable[[Session, dict[str, Any]], None], has_copy: HasCopy) -> int:
    """Make every document ``doc`` links to exist locally; returns how many requests it took.

    ``doc``'s links are local names; the fetched documents' links are the producer's, whose copy
    ``has_copy`` finds (by ``remote_docname`` where the consumer names a DocType itself)."""
    requests = 0
    visiting: set[tuple[str, str]] = set()
    levels: list[list[dict[str, Any]]] = []
    wanted = _missing(session, links_of(meta, doc, session.meta), visiting, Session.exists)
    while wanted:
        answer = fetch([list(w) for w in sorted(wanted)])
        requests += 1
        if answer.get("missing"):
            doctype, name = answer["missing"][0]
            raise LinkValidationError(
                f"{meta.name} needs {doctype} {name}, which the producer no longer has", doctype=meta.name,
            )
        visiting |= wanted
        fetched = [d for d in answer.get("docs") or [] if isinstance(d, dict)]
        levels.append(fetched)
        nested: set[tuple[str, str]] = set()
        for dep in fetched:
            nested |= links_of(session.meta(dep["doctype"]), dep, session.meta)
        wanted = _missing(session, nested, visiting, has_copy)
    deps = session.as_user(session.user, ignore_links=True)
    for fetched in reversed(levels):
        for dep in fetched:
            if not has_copy(deps, dep["doctype"], dep["name"]):
                insert(deps, dep)
    return requests


def _missing(session: Session, links: set[tuple[str, str]], visiting: set[tuple[str, str]],
             here: HasCopy) -> set[tuple[str, str]]:
    out = set()
    for doctype, name in links:
        if (doctype, name) in visiting or doctype in NEVER_FETCHED or not session.site.metas.exists(doctype):
            continue
        if session.meta(doctype).istable or here(session, doctype, name):
            continue
        out.add((doctype, name))
    return out
