"""The notifier's transport: kept-alive connections that survive the other side closing them."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from docstream.errors import AuthenticationError, TransientError
from docstream.streaming.remote import KeptAlive, RemoteSite


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def setup(self) -> None:
        super().setup()
        self.server.connections.append(self.connection)

    def do_POST(self) -> None:  # noqa: N802 - the standard library's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append((self.path, self.headers["Authorization"], json.loads(body), self.client_address[1]))
        status = 401 if self.headers["Authorization"] == "token bad:key" else 200
        payload = json.dumps({"message": "ok"} if status == 200 else {"message": "wrong keys"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


class _Server:
    def __init__(self, port: int = 0) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.httpd.seen = []
        self.httpd.connections = []
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def seen(self) -> list:
        return self.httpd.seen

    def stop(self) -> None:
        """Stop, closing the connections kept alive too (as a restarted server would)."""
        self.httpd.shutdown()
        self.httpd.server_close()
        for conn in self.httpd.connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.stop()


def test_calls_share_one_connection(server: _Server) -> None:
    transport = KeptAlive()
    remote = RemoteSite(f"http://127.0.0.1:{server.port}", "k", "s", timeout=5, transport=transport)
    assert [remote.call("docstream.streaming.notify", event_producer="http://hq") for _ in range(3)] == ["ok"] * 3
    assert [s[0] for s in server.seen] == ["/api/method/docstream.streaming.notify"] * 3
    assert server.seen[0][1] == "token k:s" and server.seen[0][2] == {"event_producer": "http://hq"}
    assert len({s[3] for s in server.seen}) == 1  # one client port: one connection
    transport.close()


def test_a_connection_the_server_dropped_is_opened_again(server: _Server) -> None:
    transport = KeptAlive()
    remote = RemoteSite(f"http://127.0.0.1:{server.port}", "k", "s", timeout=5, transport=transport)
    assert remote.call("ping") == "ok"
    server.stop()  # the other side goes away, and comes back on the same port
    again = _Server(server.port)
    try:
        assert remote.call("ping") == "ok"
        assert len(again.seen) == 1
    finally:
        again.stop()
        transport.close()


def test_errors_are_translated_as_with_httpx(server: _Server) -> None:
    transport = KeptAlive()
    with pytest.raises(AuthenticationError, match="wrong keys"):
        RemoteSite(f"http://127.0.0.1:{server.port}", "bad", "key", timeout=5, transport=transport).call("ping")
    port = server.port
    server.stop()
    with pytest.raises(TransientError, match="could not reach"):
        RemoteSite(f"http://127.0.0.1:{port}", "k", "s", timeout=5, transport=transport).call("ping")
    transport.close()
