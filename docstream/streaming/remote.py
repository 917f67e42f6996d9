"""Calling another site's whitelisted methods over HTTP, with errors translated at this boundary."""

from __future__ import annotations

import copy
import functools
import http.client
import json
import ssl
import urllib.parse
from typing import Any

import httpx

from docstream import deepjson
from docstream.errors import (
    AuthenticationError,
    DocstreamError,
    DoesNotExistError,
    LogRewoundError,
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
_BY_TYPE: dict[str, type[DocstreamError]] = {"LogRewoundError": LogRewoundError}  # what callers act on


class RemoteSite:
    """Another docstream (or Frappe) site, reached with a user's API key and secret."""

    def __init__(self, url: str, api_key: str, api_secret: str, timeout: float = 30,
                 transport: KeptAlive | None = None) -> None:
        """``transport``: a caller's long-lived connections (see KeptAlive); without one, each
        call opens and closes its own through httpx."""
        self.url = url
        self._auth = f"token {api_key}:{api_secret}"
        self.timeout = timeout
        self._transport = transport

    def patient(self, timeout: float) -> RemoteSite:
        """The same site, for a call that may take up to ``timeout`` seconds."""
        other = copy.copy(self)
        other.timeout = max(self.timeout, timeout)
        return other

    def call(self, method: str, **args: Any) -> Any:
        body = json.dumps(args, default=str).encode()
        url = f"{self.url}/api/method/{method}"
        headers = {"Authorization": self._auth, "Content-Type": "application/json", "Accept": "application/json"}
        if self._transport is not None:
            status, raw = self._transport.post(url, body, headers, self.timeout)
            return self._result(method, status, raw)
        try:
            with httpx.Client(timeout=self.timeout, verify=_tls_context()) as client:
                with client.stream("POST", url, content=body, headers=headers) as response:
                    raw = _read_limited(response)
        except httpx.TimeoutException as exc:
            raise TransientError(f"{self.url} did not answer in {self.timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"could not reach {self.url}: {exc.__class__.__name__}: {exc}") from exc
        return self._result(method, response.status_code, raw)

    def _result(self, method: str, status: int, raw: bytes) -> Any:
        try:
            payload = deepjson.loads(raw) if raw else {}
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
        exc_type = payload.get("exc_type") if isinstance(payload, dict) else None
        error = _BY_TYPE.get(exc_type) or _BY_STATUS.get(status, ValidationError)  # type: ignore[arg-type]
        raise error(f"{self.url}: {message or f'HTTP {status}'}")


class KeptAlive:
    """Connections kept open between small calls (one per origin), for one thread.

    The notifier calls consumers from the process whose writes it announces, up to ~40 times a
    second: there httpx costs ~350 µs of CPU per call, which the writers feel through the GIL;
    the standard library's http.client on a kept-alive connection costs ~75 µs. A connection
    that fails is dropped and the call tried again on a new one (the server may have closed an
    idle connection); a new connection that fails is a TransientError, as from httpx."""

    def __init__(self) -> None:
        self._connections: dict[tuple[str, str, int], http.client.HTTPConnection] = {}

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        while True:
            reused = key in self._connections
            conn = self._connections.get(key) or self._open(key, timeout)
            try:
                conn.timeout = timeout
                conn.request("POST", target, body, headers)
                response = conn.getresponse()
                raw = response.read(MAX_RESPONSE_BYTES + 1)
            except (OSError, http.client.HTTPException) as exc:
                self._drop(key)
                if reused and not isinstance(exc, TimeoutError):
                    continue  # the other side closed an idle connection: once more, on a new one
                raise TransientError(f"could not reach {parts.scheme}://{parts.netloc}: {exc.__class__.__name__}: {exc}") from exc
            if len(raw) > MAX_RESPONSE_BYTES:
                self._drop(key)
                raise MalformedRequestError(f"the answer from {url} is larger than {MAX_RESPONSE_BYTES} bytes")
            if response.will_close:
                self._drop(key)
            return response.status, raw

    def _open(self, key: tuple[str, str, int], timeout: float) -> http.client.HTTPConnection:
        scheme, host, port = key
        if scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls_context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self._connections[key] = conn
        return conn

    def _drop(self, key: tuple[str, str, int]) -> None:
        conn = self._connections.pop(key, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for key in list(self._connections):
            self._drop(key)


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
