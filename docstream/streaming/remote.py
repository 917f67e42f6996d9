"""Calling another site's whitelisted methods over HTTP, with errors translated at this boundary."""

from __future__ import annotations

import functools
import json
import ssl
from typing import Any

import httpx

from docstream.errors import (
    AuthenticationError,
    DocstreamError,
    DoesNotExistError,
    MalformedRequestError,
    PermissionError,
    TransientError,
    ValidationError,
)

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_BY_STATUS: dict[int, type[DocstreamError]] = {
    400: MalformedRequestError, 401: AuthenticationError, 403: PermissionError,
    404: DoesNotExistError, 409: ValidationError, 413: ValidationError, 417: ValidationError,
}


class RemoteSite:
    """Another docstream (or Frappe) site, reached with a user's API key and secret."""

    def __init__(self, url: str, api_key: str, api_secret: str, timeout: float = 30) -> None:
        self.url = url
        self._auth = f"token {api_key}:{api_secret}"
        self.timeout = timeout

    def call(self, method: str, **args: Any) -> Any:
        body = json.dumps(args, default=str).encode()
        try:
            with httpx.Client(timeout=self.timeout, verify=_tls_context()) as client:
                with client.stream(
                    "POST", f"{self.url}/api/method/{method}", content=body,
                    headers={"Authorization": self._auth, "Content-Type": "application/json",
                             "Accept": "application/json"},
                ) as response:
                    raw = _read_limited(response)
        except httpx.TimeoutException as exc:
            raise TransientError(f"{self.url} did not answer in {self.timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"could not reach {self.url}: {exc.__class__.__name__}: {exc}") from exc
        return self._result(method, response.status_code, raw)

    def _result(self, method: str, status: int, raw: bytes) -> Any:
        try:
            payload = json.loads(raw) if raw else {}
        except json.JSONDecodeError as exc:
            if status >= 500 or status == 0:
                raise TransientError(f"{self.url} answered {status} to {method}") from exc
            raise MalformedRequestError(f"{self.url} answered {method} with something that is not JSON") from exc
        if status == 200:
            if not isinstance(payload, dict):
                raise MalformedRequestError(f"{self.url} answered {method} with an unexpected shape")
            return payload.get("message")
        message = payload.get("message") if isinstance(payload, dict) else None
        if status >= 500 or status in (408, 429, 502, 503, 504):
            raise TransientError(f"{self.url} answered {status} to {method}: {message or 'server error'}")
        error = _BY_STATUS.get(status, ValidationError)
        raise error(f"{self.url}: {message or f'HTTP {status}'}")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The TLS settings httpx would build for every new Client (loading the CA bundle costs tens of
    milliseconds of CPU each time), built once per process and shared: a call still opens its own
    connection, as before."""
    return httpx.create_ssl_context()


def _read_limited(response: httpx.Response) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise MalformedRequestError(f"the answer from {response.url} is larger than {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
