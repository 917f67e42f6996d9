"""Method calls: ``/api/method/{name}`` and Frappe's older ``GET|POST /?cmd={name}``.

A trailing slash (or anything after the method name, as old Frappe clients send) is ignored.
A plain ``GET /`` without ``cmd`` goes to the desk (``/app``).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from docstream.api import methods
from docstream.api.arguments import method_args
from docstream.api.responses import method_response
from docstream.errors import MalformedRequestError

HOME = "/app"


async def method_endpoint(request: Request) -> Response:
    name = request.path_params["name"].strip("/").split("/")[0]
    return await _call(request, name, await method_args(request))


async def root_endpoint(request: Request) -> Response:
    args = await method_args(request)
    cmd = args.pop("cmd", None)
    if not cmd:
        if request.method in ("GET", "HEAD"):
            return RedirectResponse(HOME, status_code=302)
        raise MalformedRequestError("POST / needs cmd=<method> (or use /api/method/<method>)")
    return await _call(request, str(cmd), args)


async def _call(request: Request, name: str, args: dict[str, Any]) -> Response:
    session = request.state.session
    result = await run_in_threadpool(methods.call, session, name, args, request.method)
    expiry = int(session.site.settings["session_expiry_hours"]) * 3600
    return method_response(result, request, expiry)
