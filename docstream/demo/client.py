"""A small client of a site's Frappe-style REST API, as any script outside docstream would use it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from docstream.errors import DocstreamError


class ApiError(DocstreamError):
    """A site answered a demo request with an error."""


class Client:
    """Talks to one site as one user: ``token key:secret``, or a session after :meth:`login`."""

    def __init__(self, url: str, api_key: str | None = None, api_secret: str | None = None,
                 timeout: float = 60) -> None:
        headers = {"Authorization": f"token {api_key}:{api_secret}"} if api_key else {}
        self.url = url
        self.http = httpx.Client(base_url=url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def login(self, user: str, password: str) -> Client:
        self._answer(self.http.post("/api/method/login", json={"usr": user, "pwd": password}))
        return self

    def get(self, doctype: str, name: str) -> dict[str, Any]:
        return self._answer(self.http.get(f"/api/resource/{_q(doctype)}/{_q(name)}"))["data"]

    def get_list(self, doctype: str, fields: list[str] | None = None, filters: Any = None,
                 order_by: str | None = None, parent: str | None = None) -> list[dict[str, Any]]:
        """Every matching document (no paging limit), through ``frappe.client.get_list``."""
        args: dict[str, Any] = {"doctype": doctype, "fields": fields or ["name"], "limit_page_length": 0}
        if filters is not None:
            args["filters"] = filters
        if order_by:
            args["order_by"] = order_by
        if parent:
            args["parent"] = parent
        return self.call("frappe.client.get_list", **args)

    def count(self, doctype: str, filters: Any = None) -> int:
        return int(self.call("frappe.client.get_count", doctype=doctype, filters=filters or {}))

    def insert(self, doc: dict[str, Any]) -> dict[str, Any]:
        return self._answer(self.http.post(f"/api/resource/{_q(doc['doctype'])}", json=doc))["data"]

    def update(self, doctype: str, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self._answer(self.http.put(f"/api/resource/{_q(doctype)}/{_q(name)}", json=changes))["data"]

    def delete(self, doctype: str, name: str) -> None:
        self._answer(self.http.delete(f"/api/resource/{_q(doctype)}/{_q(name)}"))

    def call(self, method: str, **args: Any) -> Any:
        return self._answer(self.http.post(f"/api/method/{method}", json=args)).get("message")

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except json.JSONDecodeError:
            payload = {}
        if not 200 <= response.status_code < 300:
            detail = payload.get("message") if isinstance(payload, dict) else None
            raise ApiError(f"{response.request.method} {response.request.url.path} on {self.url} answered "
                           f"{response.status_code}: {detail or response.text[:200]}")
        return payload if isinstance(payload, dict) else {}


def _q(part: str) -> str:
    return quote(str(part), safe="")
