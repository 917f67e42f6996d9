"""Rendering desk pages: one Jinja2 environment (autoescape always on) and the headers every
page carries (no caching of private data, a strict Content-Security-Policy: scripts and styles
only from this site, so even a stray tag in a document could not run)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.responses import HTMLResponse

from docstream.model.meta import slug
from docstream.ui import layout, urls
from docstream.ui.formdata import new_row_key
from docstream.ui.indicators import colour, doc_indicator, indicator

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("docstream.ui", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        ASSETS=urls.ASSETS, DASHBOARD=urls.DASHBOARD,
        doc_url=urls.doc_url, list_url=urls.list_url, new_url=urls.new_url, slug=slug,
        widget=layout.widget, input_value=layout.input_value, display_value=layout.display_value, pretty_text=layout.pretty_text,
        is_editable=layout.is_editable, grid_fields=layout.grid_fields, sections=layout.sections,
        link_target=layout.link_target, new_row_key=new_row_key,
        colour=colour, indicator=indicator, doc_indicator=doc_indicator,
    )
    env.filters["pretty_date"] = layout.pretty_date
    return env


ENV = _environment()


def render(template: str, **context: Any) -> str:
    return ENV.get_template(template).render(**context)


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(render(template, **context), status_code=status, headers=HEADERS)


__all__ = ["CSP", "ENV", "HEADERS", "page", "render"]
