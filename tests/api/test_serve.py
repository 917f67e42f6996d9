"""``docstream serve``: a real process that answers, logs one line per request, and stops cleanly."""

from __future__ import annotations

import re
import signal
import socket
import time
from pathlib import Path

import httpx

from tests.support.servers import SiteServer, free_port, run_cli

LINE = re.compile(r"docstream\.requests: (\S+) (GET|POST|PUT|DELETE) (\S+) (\d{3}) ([\d.]+)ms user=(\S+)$")


def wait_for(predicate, timeout: float = 5) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_serve_answers_logs_and_stops_cleanly_on_sigterm(serve) -> None:  # type: ignore[no-untyped-def]
    server: SiteServer = serve("served.local", extra_args=["--no-worker"])
    r = httpx.get(server.url + "/api/method/ping", headers={"X-Request-ID": "abc-123"})
    assert r.json() == {"message": "pong"} and r.headers["x-request-id"] == "abc-123"
    generated = httpx.get(server.url + "/api/method/ping").headers["x-request-id"]
    with server.admin() as admin:
        admin.http.get("/api/resource/ToDo", params={"filters": '{"description": "secret-filter"}'})
    httpx.post(server.url + "/api/method/login", json={"usr": "Administrator", "pwd": "not-the-password"})

    def found() -> set[tuple[str, ...]]:
        return {(m[1], m[2], m[3], m[4], m[6]) for m in map(LINE.search, server.log().splitlines()) if m}

    def logged() -> bool:  # a line is written just after its answer is sent: wait for the last ones
        lines = found()
        return (("abc-123", "GET", "/api/method/ping", "200", "Guest") in lines
                and (generated, "GET", "/api/method/ping", "200", "Guest") in lines
                and any(f[2:] == ("/api/resource/ToDo", "200", "Administrator") for f in lines)
                and any(f[2:] == ("/api/method/login", "401", "Guest") for f in lines))

    assert wait_for(logged, timeout=20), server.log()
    log = server.log()
    assert "secret-filter" not in log and "not-the-password" not in log and "Traceback" not in log
    server.stop(signal.SIGTERM)
    assert server.proc is not None and server.proc.returncode == 0, server.log()
    assert "Traceback" not in server.log()


def test_a_request_can_not_write_a_second_log_line(serve) -> None:  # type: ignore[no-untyped-def]
    server: SiteServer = serve("forged.local", extra_args=["--no-worker"])
    forged = "2026-01-01 00:00:00,000 INFO docstream.requests: 0000 POST /api/method/login 200 1.0ms user=Administrator"
    path = "/api/resource/ToDo%0A" + forged.replace(" ", "%20") + "%0D%0Aanother"
    assert httpx.get(server.url + path, headers={"X-Request-ID": "forger"}).status_code == 404
    assert wait_for(lambda: "forger GET" in server.log(), timeout=20), server.log()
    lines = server.log().splitlines()
    assert not [line for line in lines if line.startswith("2026-01-01")]
    (line,) = [line for line in lines if "forger GET" in line]
    assert "/api/resource/ToDo\\n2026-01-01 00:00:00,000 INFO" in line and "\\r\\nanother 404 " in line
    assert line.endswith("user=Guest")


def test_serve_with_the_worker_starts_and_stops(serve) -> None:  # type: ignore[no-untyped-def]
    server: SiteServer = serve("worker.local")
    assert httpx.get(server.url + "/api/method/ping").status_code == 200
    server.stop(signal.SIGINT)
    assert server.proc is not None and server.proc.returncode == 0, server.log()


def test_serve_errors_are_one_line(sites_dir: Path) -> None:
    failed = run_cli(sites_dir, "serve", check=False, site="missing.local")
    assert failed.returncode != 0 and "missing.local" in failed.stderr and "Traceback" not in failed.stderr
    failed = run_cli(sites_dir, "serve", "--port", "99999", check=False, site="missing.local")
    assert failed.returncode != 0 and "Traceback" not in failed.stderr


def test_serve_on_a_port_in_use_is_a_one_line_error(sites_dir: Path) -> None:
    run_cli(sites_dir, "new-site", "busy.local", "--admin-password", "admin")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        failed = run_cli(sites_dir, "serve", "--port", str(port), check=False, site="busy.local")
    assert failed.returncode == 1, failed
    assert failed.stdout == "" and failed.stderr.count("\n") == 1, failed
    assert failed.stderr.startswith(f"Error: can't listen on 127.0.0.1:{port}: Address already in use"), failed


def test_serve_help_lists_its_options(sites_dir: Path) -> None:
    out = run_cli(sites_dir, "serve", "--help").stdout
    for option in ("--host", "--port", "--no-worker"):
        assert option in out
    assert free_port() > 0
