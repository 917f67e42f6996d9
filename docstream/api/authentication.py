"""Who is calling: puts ``session``, ``user`` and ``sid`` on ``request.state`` for every request.

Sources, in order: ``Authorization: token key:secret`` or ``Basic base64(key:secret)``, then
the ``sid`` login cookie; without either the caller is Guest. Wrong credentials are a 401;
an unknown or expired ``sid`` (or one whose user was disabled) just means Guest.

A browser sends the cookie with whatever page makes the request, so an API write authenticated by
the cookie alone (POST, PUT, PATCH, DELETE) must not come from another site's page: one whose
``Origin`` names another host (or is ``null``, as from a sandboxed frame) is a 403. Scripts and
other sites send no ``Origin``, and keys are not sent by browsers on their own.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from docstream.api.responses import error_response
from docstream.auth.credentials import identity_for_authorization
from docstream.auth.identity import Identity
from docstream.auth.permissions import GUEST
from docstream.auth.sessions import identity_for_session
from docstream.errors import AuthenticationError
from docstream.ui.csrf import CsrfError, check_origin

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _is_api(path: str) -> bool:
    """The API's routes (the desk's form posts check their own token and origin)."""
    return path == "/" or path.startswith("/api/")


def identify(site: Any, authorization: str | None, sid: str | None) -> Identity:
    """Who is calling (and the sid that identified them, if any); Guest without credentials."""
    if authorization:
        return identity_for_authorization(site, authorization)
    return identity_for_session(site, sid) or Identity(GUEST)


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp, site: Any) -> None:
        self.app = app
        self.site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        state = scope.setdefault("state", {})
        try:
            session = await run_in_threadpool(self._session, conn.headers.get("authorization"), conn.cookies.get("sid"))
        except AuthenticationError as exc:
            response = error_response(exc, state.get("request_id"))
            response.headers["www-authenticate"] = 'token realm="docstream"'
            await response(scope, receive, send)
            return
        state.update(session=session, user=session.user, sid=session.flags.get("sid"))
        if session.flags.get("sid") and scope["method"] not in _SAFE_METHODS and _is_api(scope["path"]):
            try:
                check_origin(conn, allow_null=False)
            except CsrfError as exc:
                await error_response(exc, state.get("request_id"))(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _session(self, authorization: str | None, sid: str | None) -> Any:
        who = identify(self.site, authorization, sid)
        flags = {"from_client": True, **({"sid": who.sid} if who.sid else {})}  # from_client: documents.Session
        session = self.site.session(who.user, meta_version=who.meta_version, **flags)
        if who.roles is not None:
            session.know_roles(who.roles)
        return session
