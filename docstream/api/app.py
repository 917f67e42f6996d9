"""The ASGI application of a site: the HTTP API, then the web desk's routes.

Layers, outermost first: request context (id, log line, last-resort 500) → body limit →
authentication (``request.state.session``) → routes, whose DocstreamErrors become Frappe-shaped
JSON errors. The lifespan runs the site's background worker unless ``worker=False``.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from docstream.api import client_methods, login, openapi, resources, rpc  # noqa: F401 - registers methods
from docstream.api.authentication import AuthenticationMiddleware
from docstream.api.context import RequestContextMiddleware
from docstream.api.limits import BodyLimitMiddleware
from docstream.api.responses import error_payload, error_response, json_response
from docstream.errors import DocstreamError, DoesNotExistError

_ALL = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def api_routes() -> list[Route]:
    return [
        Route("/api/method/{name:path}", rpc.method_endpoint, methods=_ALL),
        Route("/api/resource/{rest:path}", resources.endpoint, methods=_ALL),
        Route("/api/openapi.json", _openapi, methods=["GET"]),
        Route("/api/{rest:path}", _unknown_api, methods=_ALL),
        Route("/", rpc.root_endpoint, methods=["GET", "POST"]),
    ]


def create_app(site: Any, worker: bool = True) -> Starlette:
    from docstream.ui import ui_routes

    return Starlette(
        routes=[*api_routes(), *ui_routes(site)],
        middleware=[
            Middleware(RequestContextMiddleware),
            Middleware(BodyLimitMiddleware, site=site),
            Middleware(AuthenticationMiddleware, site=site),
        ],
        exception_handlers={DocstreamError: _docstream_error, HTTPException: _http_error},
        lifespan=_lifespan(site, worker),
    )


def _lifespan(site: Any, worker: bool) -> Any:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from docstream.jobs import BackgroundWorker

        background = BackgroundWorker(site) if worker else None
        if background is not None:
            await run_in_threadpool(background.start)
        try:
            yield
        finally:
            if background is not None:
                await run_in_threadpool(background.stop)

    return lifespan


async def _openapi(request: Request) -> Response:
    return json_response(await run_in_threadpool(openapi.build, request.state.session))


async def _unknown_api(request: Request) -> Response:
    raise DoesNotExistError(f"no API route {request.url.path}: see /api/openapi.json")


async def _docstream_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DocstreamError)
    return error_response(exc, getattr(request.state, "request_id", None))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    wants_html = "text/html" in request.headers.get("accept", "") and not request.url.path.startswith("/api/")
    if wants_html:
        return HTMLResponse(f"<h1>{exc.status_code}</h1><p>{html.escape(str(exc.detail))}</p>", exc.status_code, headers=exc.headers)
    if exc.status_code < 400:
        return Response(status_code=exc.status_code, headers=exc.headers)
    error = DocstreamError(str(exc.detail))
    error.http_status = exc.status_code
    payload = error_payload(error, getattr(request.state, "request_id", None))
    payload["exc_type"] = {404: "DoesNotExistError", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPException")
    return json_response(payload, exc.status_code)
