"""HTTP helpers for API tests: error checks and raw requests httpx won't send."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx


def assert_error(response: httpx.Response, status: int, exc_type: str | None = None) -> dict[str, Any]:
    """A Frappe-shaped JSON error with this status, and never a traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert {"exc_type", "exception", "message"} <= set(body), body
    if exc_type:
        assert body["exc_type"] == exc_type, body
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


def raw_http(port: int, head: str, body: bytes = b"", timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` (request line and headers, without the blank line) and ``body`` over a plain
    socket; the status, headers and body of the answer. For what httpx won't send."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        header_blob, _, rest = data.partition(b"\r\n\r\n")
        lines = header_blob.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return int(lines[0].split()[1]), headers, rest


def to_json(value: Any) -> str:
    return json.dumps(value)
