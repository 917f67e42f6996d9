"""The desk's routes: thin endpoints that parse the request, call the Session (through the
view modules, in a worker thread: the Session is synchronous) and render a page.

The app's auth middleware puts the caller's Session on ``request.state.session`` (Guest when
not logged in); the desk sends guests to /login. Every POST carries the CSRF token.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from docstream.auth.permissions import GUEST
from docstream.errors import AuthenticationError, DocstreamError, DoesNotExistError, PermissionError
from docstream.model.documents import Session
from docstream.ui import dashboard, formview, home, listview
from docstream.ui.csrf import SESSION_COOKIE, CsrfTokens, check_origin
from docstream.ui.formdata import new_row_key
from docstream.ui.render import HEADERS, page, render
from docstream.ui.urls import ASSETS, DASHBOARD, doc_url, list_url, meta_for_slug, safe_redirect

STATIC = Path(__file__).parent / "static"
Endpoint = Callable[[Any, Request, Session], Awaitable[Response]]


def desk_page(fn: Endpoint) -> Callable[[Any, Request], Awaitable[Response]]:
    """Guests go to /login; a docstream error becomes its error page (403 with the message, 404, …)."""

    @functools.wraps(fn)
    async def endpoint(self: Desk, request: Request) -> Response:
        session = self.session(request)
        if session.user == GUEST:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?redirect-to={quote(target, safe='')}", status_code=303)
        try:
            return await fn(self, request, session)
        except DocstreamError as exc:
            return self.error_page(request, session, exc)

    return endpoint


class Desk:
    def __init__(self, site: Any) -> None:
        self.site = site
        self.csrf = CsrfTokens(site)

    # -- helpers ------------------------------------------------------------
    def session(self, request: Request) -> Session:
        session = getattr(request.state, "session", None)
        return session if session is not None else Session(self.site, GUEST)

    def context(self, request: Request, session: Session, **extra: Any) -> dict[str, Any]:
        return {
            "user": session.user, "site_name": self.site.name, "csrf_token": self.csrf.token(request),
            "nav": "", "nav_streaming": home.streaming_doctypes(session), "get_meta": session.meta, **extra,
        }

    def error_page(self, request: Request, session: Session, exc: DocstreamError) -> Response:
        status = exc.http_status if exc.http_status in (400, 403, 404, 409, 417) else 500
        titles = {403: "Not permitted", 404: "Not found"}
        return page("error.html", status, **self.context(request, session, title=titles.get(status, "Error"),
                                                          message=exc.message, code=status))

    async def posted(self, request: Request) -> Any:
        form = await request.form()
        self.csrf.check(request, form)
        return form

    # -- login --------------------------------------------------------------
    async def login(self, request: Request) -> Response:
        target = safe_redirect(request.query_params.get("redirect-to"))
        session = self.session(request)
        if request.method == "GET":
            if session.user != GUEST:
                return RedirectResponse(target, status_code=303)
            return self.login_page(target)
        try:
            check_origin(request)
        except DocstreamError as exc:
            return self.error_page(request, session, exc)
        form = await request.form()
        target = safe_redirect(str(form.get("redirect-to") or ""))
        usr, pwd = str(form.get("usr") or ""), str(form.get("pwd") or "")
        from docstream.auth.sessions import login

        try:
            done = await run_in_threadpool(login, self.site, usr, pwd)
        except AuthenticationError as exc:
            return self.login_page(target, exc.message, usr, exc.http_status)
        response = RedirectResponse(target, status_code=303)
        max_age = int(self.site.settings["session_expiry_hours"]) * 3600
        response.set_cookie(SESSION_COOKIE, done.sid, max_age=max_age, httponly=True, samesite="lax", path="/",
                            secure=request.url.scheme == "https")
        return response

    def login_page(self, target: str, error: str = "", usr: str = "", status: int = 401) -> Response:
        return page("login.html", status if error else 200, title="Login", site_name=self.site.name, csrf_token="",
                    redirect_to=target, error=error, usr=usr)

    async def logout(self, request: Request) -> Response:
        from docstream.auth.sessions import delete_session

        form = await request.form()
        try:
            self.csrf.check(request, form)
        except DocstreamError as exc:
            return self.error_page(request, self.session(request), exc)
        await run_in_threadpool(delete_session, self.site, request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- pages --------------------------------------------------------------
    @desk_page
    async def home(self, request: Request, session: Session) -> Response:
        data = await run_in_threadpool(home.home, session)
        return page("home.html", **self.context(request, session, title="Home", nav="home", **data))

    @desk_page
    async def dashboard(self, request: Request, session: Session) -> Response:
        hours = _int(request.query_params.get("hours"), 3)
        board = await run_in_threadpool(dashboard.load, session, hours)
        return page("dashboard.html", **self.context(request, session, title="Event Streaming", nav="dashboard",
                                                     board=board, hour_choices=dashboard.HOURS,
                                                     producer_columns=dashboard.PRODUCER_COLUMNS))

    @desk_page
    async def list_view(self, request: Request, session: Session) -> Response:
        meta = meta_for_slug(session.site.metas.all(), request.path_params["slug"])
        if request.method == "POST":
            form = await self.posted(request)
            if form.get("_action") != "resync_all_failed" or meta.name != "Event Sync Log":
                raise DoesNotExistError("this list has no such action")
            return RedirectResponse(await run_in_threadpool(listview.resync_all_failed, session), status_code=303)
        params = dict(request.query_params)
        state = await run_in_threadpool(listview.load, session, meta, params, listview.flash_message(params))
        return page("list.html", **self.context(request, session, title=meta.name, nav=meta.name, meta=meta,
                                                state=state, filter_fields=listview.filter_fields(meta),
                                                page_lengths=listview.PAGE_LENGTHS))

    @desk_page
    async def new_form(self, request: Request, session: Session) -> Response:
        meta = meta_for_slug(session.site.metas.all(), request.path_params["slug"])
        if request.method == "POST":
            form = await self.posted(request)
            result = await run_in_threadpool(formview.post, session, meta, None, form)
        else:
            result = await run_in_threadpool(formview.blank, session, meta, dict(request.query_params))
        return self.form_response(request, session, result)

    @desk_page
    async def form(self, request: Request, session: Session) -> Response:
        meta = meta_for_slug(session.site.metas.all(), request.path_params["slug"])
        name = request.path_params["name"]
        if not name:
            return RedirectResponse(list_url(meta.name), status_code=303)
        if request.method == "POST":
            form = await self.posted(request)
            result = await run_in_threadpool(formview.post, session, meta, name, form)
        else:
            result = await run_in_threadpool(formview.load, session, meta, name, request.query_params.get("done", ""))
        return self.form_response(request, session, result)

    def form_response(self, request: Request, session: Session, result: Any) -> Response:
        if isinstance(result, str):
            return RedirectResponse(result, status_code=303)
        state: formview.FormState = result
        action = (list_url(state.meta.name) + "/new") if state.is_new else doc_url(state.meta.name, state.doc["name"])
        status = 417 if state.message else 200
        return page("form.html", status, **self.context(request, session, title=_title(state), nav=state.meta.name,
                                                        meta=state.meta, state=state, form_action=action))

    # -- htmx fragments -----------------------------------------------------
    @desk_page
    async def lookup(self, request: Request, session: Session) -> Response:
        """``<option>``s of the names matching what was typed in a Link field (for its datalist)."""
        params = request.query_params
        target = params.get("target") or params.get(params.get("target_from") or "", "")
        text = params.get(params.get("input") or "", "")
        options = await run_in_threadpool(_lookup, session, target, text)
        return HTMLResponse(render("partials/options.html", options=options), headers=HEADERS)

    @desk_page
    async def grid_row(self, request: Request, session: Session) -> Response:
        """A new, empty row for a grid (the Add Row button)."""
        meta = session.meta(request.query_params.get("doctype", ""))
        session.check(meta, "read")
        table = meta.get_field(request.query_params.get("table", ""))
        if table is None or not table.is_table:
            raise DoesNotExistError(f"{meta.name} has no table {request.query_params.get('table')!r}")
        html = render("partials/grid_row.html", child=session.meta(table.options), table=table.fieldname,
                      key=new_row_key(), row={}, editable=True, parent=meta.name)
        return HTMLResponse(html, headers=HEADERS)

    # -- routes -------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/app", self.home, methods=["GET"]),
            Route("/app/", lambda request: RedirectResponse("/app", status_code=303), methods=["GET"]),
            Route(DASHBOARD, self.dashboard, methods=["GET"]),
            Route("/app/sync-dashboard", lambda request: RedirectResponse(DASHBOARD, status_code=303), methods=["GET"]),
            Route("/app/_lookup", self.lookup, methods=["GET"]),
            Route("/app/_row", self.grid_row, methods=["GET"]),
            Route("/app/{slug}", self.list_view, methods=["GET", "POST"]),
            Route("/app/{slug}/new", self.new_form, methods=["GET", "POST"]),
            Route("/app/{slug}/{name:path}", self.form, methods=["GET", "POST"]),
            Mount(ASSETS, app=StaticFiles(directory=STATIC), name="desk-assets"),
        ]


def _lookup(session: Session, target: str, text: str) -> list[dict[str, str]]:
    if not target or not session.site.metas.exists(target):
        return []
    meta = session.meta(target)
    title = meta.title_field if meta.title_field and meta.has_field(meta.title_field) else None
    try:
        rows = session.get_list(target, fields=["name", *([title] if title else [])],
                                filters=[["name", "like", f"%{text}%"]] if text else None,
                                order_by="modified desc", limit_page_length=20)
    except PermissionError:
        return []
    return [{"value": r["name"], "label": str(r.get(title) or "") if title else ""} for r in rows]


def _title(state: formview.FormState) -> str:
    if state.is_new:
        return f"New {state.meta.name}"
    title_field = state.meta.title_field
    return str((state.doc.get(title_field) if title_field else None) or state.doc["name"])


def _int(raw: Any, default: int) -> int:
    try:
        return int(str(raw))
    except ValueError:
        return default


def ui_routes(site: Any) -> list[BaseRoute]:
    """Routes of the web desk, mounted by the app after the API routes."""
    return Desk(site).routes()


__all__ = ["Desk", "ui_routes"]
