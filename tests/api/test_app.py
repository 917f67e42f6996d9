"""The application in-process (through httpx's ASGI transport): wiring, the worker lifespan, the
last-resort 500, login sessions, and the small parsers the routes rely on."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from docstream.api import methods
from docstream.api.app import create_app
from docstream.api.resources import resource_path
from docstream.auth import sessions
from docstream.errors import AuthenticationError, SecurityException, ValidationError
from tests.support.asgi import AppClient, app_client


@methods.whitelist("tests.boom", allow_guest=True)
def _boom(session: Any, secret: str = "") -> None:
    raise RuntimeError(f"kaboom {secret}")


@pytest.fixture
def site(make_site: Any) -> Any:
    return make_site("inproc.local")


@pytest.fixture
def client(site: Any) -> Iterator[AppClient]:
    with app_client(create_app(site, worker=False)) as c:
        yield c


def test_an_unexpected_error_is_a_bare_500_with_its_request_id(client: AppClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="docstream.requests"):
        r = client.post("/api/method/tests.boom", data={"secret": "hunter2"}, headers={"X-Request-ID": "req-500"})
    assert r.status_code == 500 and r.headers["x-request-id"] == "req-500"
    body = r.json()
    assert body["exc_type"] == "DocstreamError" and "req-500" in body["message"]
    assert "kaboom" not in r.text and "hunter2" not in r.text and "Traceback" not in r.text
    logged = "\n".join(rec.getMessage() + (rec.exc_text or "") for rec in caplog.records)
    assert "RuntimeError" in caplog.text and "req-500" in logged
    line = [rec.getMessage() for rec in caplog.records if rec.getMessage().startswith("req-500 POST")][0]
    assert line.split()[:4] == ["req-500", "POST", "/api/method/tests.boom", "500"] and line.endswith("user=Guest")


def test_request_log_never_holds_the_query_string(client: AppClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="docstream.requests"):
        client.post("/?cmd=login&usr=Administrator&pwd=admin-pw-in-url")
    assert "admin-pw-in-url" not in caplog.text and "POST / 401" in caplog.text


def test_a_request_is_one_log_line_whatever_its_path(client: AppClient, caplog: pytest.LogCaptureFixture) -> None:
    forged = "2026-01-01 00:00:00,000 INFO docstream.requests: 0000 POST /api/method/login 200 1.0ms user=Administrator"
    with caplog.at_level(logging.INFO, logger="docstream.requests"):
        client.get("/api/resource/ToDo%0A" + forged.replace(" ", "%20") + "%0D%1B%E2%80%A8%5Cn%09")
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "docstream.requests"]
    assert len(lines) == 1 and "\n" not in lines[0] and "\r" not in lines[0]
    assert "GET /api/resource/ToDo\\n2026-01-01 00:00:00,000 INFO" in lines[0]
    assert lines[0].split(" 404 ")[0].endswith("user=Administrator\\r\\x1b\\u2028\\\\n\\t")
    assert lines[0].endswith("user=Guest")


def test_one_line_escapes_what_is_not_printable() -> None:
    from docstream.api.context import one_line

    assert one_line("/api/resource/ToDo/a b") == "/api/resource/ToDo/a b"
    assert one_line("a\nb\r\tc\x00\x7f\x85\u2028\u2029\\") == "a\\nb\\r\\tc\\x00\\x7f\\x85\\u2028\\u2029\\\\"
    assert one_line("a\\n\n", backslashes=False) == "a\\n\\n"
    assert one_line(None) == "None" and one_line("é ü 日本") == "é ü 日本"


def test_serve_s_formatter_keeps_every_message_on_one_line() -> None:
    from docstream.commands.serve import LOG_FORMAT, OneLineFormatter

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord("docstream.pull", logging.WARNING, __file__, 1, "failed: %s", ("a\nforged",), sys.exc_info())
    text = OneLineFormatter(LOG_FORMAT).format(record)
    first, *traceback = text.splitlines()
    assert first.endswith("docstream.pull: failed: a\\nforged")
    assert traceback[0] == "Traceback (most recent call last):" and traceback[-1] == "RuntimeError: boom"


@pytest.mark.parametrize("worker", [True, False])
def test_the_lifespan_runs_the_background_worker(site: Any, monkeypatch: pytest.MonkeyPatch, worker: bool) -> None:
    calls: list[str] = []

    class Recorder:
        def __init__(self, site: Any) -> None:
            calls.append("init")

        def start(self) -> None:
            calls.append("start")

        def stop(self) -> None:
            calls.append("stop")

    monkeypatch.setattr("docstream.jobs.BackgroundWorker", Recorder)
    with app_client(create_app(site, worker=worker)) as c:
        assert c.get("/api/method/ping").json() == {"message": "pong"}
        assert calls == (["init", "start"] if worker else [])
    assert calls == (["init", "start", "stop"] if worker else [])


def test_ui_routes_come_after_the_api(site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def ui(request: Any) -> Any:
        return PlainTextResponse(f"desk for {request.state.user}")

    monkeypatch.setattr("docstream.ui.ui_routes", lambda s: [Route("/app", ui), Route("/api/method/ping", ui)])
    with app_client(create_app(site, worker=False)) as c:
        assert c.get("/app").text == "desk for Guest"
        assert c.get("/api/method/ping").json() == {"message": "pong"}  # the API wins


def test_sessions_expire_and_end(site: Any) -> None:
    login = sessions.login(site, "Administrator", "admin")
    assert sessions.user_for_session(site, login.sid) == "Administrator"
    stored = site.db.sql('SELECT sid_hash FROM "__sessions"')
    assert [r["sid_hash"] for r in stored] != [login.sid] and len(stored[0]["sid_hash"]) == 64  # only a hash
    site.db.sql('UPDATE "__sessions" SET expires = expires - ?', (site.settings["session_expiry_hours"] * 3600 + 10,))
    assert sessions.user_for_session(site, login.sid) is None
    other = sessions.login(site, "admin@example.com", "admin")  # by email too
    sessions.delete_session(site, other.sid)
    assert sessions.user_for_session(site, other.sid) is None
    with pytest.raises(AuthenticationError):
        sessions.login(site, "Administrator", "wrong")


def test_session_expiry_follows_the_setting(site: Any) -> None:
    site.set_config("session_expiry_hours", "2")
    sid = sessions.create_session(site, "Administrator")
    row = site.db.sql('SELECT created, expires FROM "__sessions"')[0]
    assert row["expires"] - row["created"] == 7200 and sessions.user_for_session(site, sid) == "Administrator"


def _fail(site: Any, usr: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(AuthenticationError, match="Invalid login credentials"):
            sessions.login(site, usr, "wrong")


def _age_failures(site: Any, seconds: int) -> None:
    site.db.sql('UPDATE "__login_failures" SET last_failure = last_failure - ?', (seconds,))


def test_repeated_failed_logins_lock_the_user_for_a_while(site: Any) -> None:
    site.set_config("login_attempts", "3")
    _fail(site, "Administrator", 2)
    assert sessions.login(site, "Administrator", "admin").user == "Administrator"  # a success clears the count
    _fail(site, "Administrator", 2)
    _fail(site, "admin@example.com", 1)  # by email: the same user, the third failure in a row
    for usr, pwd in (("Administrator", "admin"), ("ADMIN@example.com", "admin"), ("Administrator", "wrong")):
        with pytest.raises(SecurityException, match=r"locked for (59|60) more seconds") as refused:
            sessions.login(site, usr, pwd)  # refused whatever the password: nothing is checked
        assert refused.value.http_status == 429
    _age_failures(site, 61)
    assert sessions.login(site, "Administrator", "admin").user == "Administrator"  # the lock is over
    assert site.db.sql('SELECT * FROM "__login_failures"') == []


def test_failures_far_apart_do_not_add_up_and_unknown_users_count_too(site: Any) -> None:
    site.set_config("login_attempts", "2")
    site.set_config("login_lockout_seconds", "30")
    _fail(site, "Administrator", 1)
    _age_failures(site, 30)
    _fail(site, "Administrator", 1)  # a new run: 1, not 2
    assert sessions.login(site, "Administrator", "admin").user == "Administrator"
    _fail(site, "Nobody@Example.com", 2)
    with pytest.raises(SecurityException):  # as for a real user: the answer tells nothing about accounts
        sessions.login(site, "nobody@example.com", "x")
    with pytest.raises(AuthenticationError, match="Invalid login credentials"):
        sessions.login(site, "somebody@example.com", "x")  # another name, its own count


def test_login_attempts_zero_never_locks(site: Any) -> None:
    site.set_config("login_attempts", "0")
    _fail(site, "Administrator", 12)
    assert sessions.login(site, "Administrator", "admin").user == "Administrator"
    assert site.db.sql('SELECT * FROM "__login_failures"') == []


def test_a_locked_login_is_a_429_for_the_api_and_a_message_for_the_desk(site: Any, client: AppClient) -> None:
    site.set_config("login_attempts", "2")
    for _ in range(2):
        assert client.post("/api/method/login", json={"usr": "Administrator", "pwd": "nope"}).status_code == 401
    r = client.post("/api/method/login", json={"usr": "Administrator", "pwd": "admin"})
    assert r.status_code == 429 and r.json()["exc_type"] == "SecurityException" and "set-cookie" not in r.headers
    assert "locked for" in r.json()["message"]
    page = client.get("/login")
    token_free = client.post("/login", data={"usr": "Administrator", "pwd": "admin"},
                             headers={"Origin": str(page.url).split("/login")[0]})
    assert token_free.status_code == 429 and "locked for" in token_free.text


def test_a_cookie_write_from_another_site_s_page_is_refused(site: Any, client: AppClient) -> None:
    """The login cookie goes with any page's request: a write it alone authenticates must come
    from this site's own pages (or from no page at all: scripts send no Origin)."""
    from docstream.auth import users

    assert client.post("/api/method/login", json={"usr": "Administrator", "pwd": "admin"}).status_code == 200
    todo = {"doctype": "ToDo", "description": "from a page"}
    for origin in ("http://evil.example", "null", "http://testserver.evil.example"):
        r = client.post("/api/resource/ToDo", json=todo, headers={"Origin": origin})
        assert r.status_code == 403 and r.json()["exc_type"] == "CsrfError", (origin, r.text)
    assert client.get("/api/resource/ToDo", headers={"Origin": "http://evil.example"}).status_code == 200  # reads are not writes
    assert client.post("/api/resource/ToDo", json=todo, headers={"Origin": "http://testserver"}).status_code == 200
    assert client.post("/api/resource/ToDo", json=todo).status_code == 200
    assert len(site.session().get_list("ToDo", filters={"description": "from a page"})) == 2
    keys = users.generate_keys(site.session(), "Administrator")
    client.post("/api/method/logout")
    r = client.post("/api/resource/ToDo", json=todo, headers={
        "Origin": "http://evil.example", "Authorization": f"token {keys['api_key']}:{keys['api_secret']}"})
    assert r.status_code == 200  # a key is never sent by a browser on its own


@pytest.mark.parametrize(("raw", "expected"), [
    (b"/api/resource/ToDo", ("ToDo", None)),
    (b"/api/resource/ToDo/", ("ToDo", None)),
    (b"/api/resource/Sales%20Invoice/SINV-1", ("Sales Invoice", "SINV-1")),
    (b"/api/resource/Event%20Consumer/http%3A%2F%2Fstore1%3A8000", ("Event Consumer", "http://store1:8000")),
    (b"/api/resource/Event%20Consumer/http%3A%2F%2Fstore1%3A8000%2F", ("Event Consumer", "http://store1:8000/")),
    (b"/api/resource/Note/a/b/", ("Note", "a/b")),
    (b"/api/resource/Note/100%25", ("Note", "100%")),
    (b"/api/resource/Note/%C3%BC", ("Note", "ü")),
])
def test_resource_paths_are_decoded_once(raw: bytes, expected: tuple[str, str | None]) -> None:
    assert resource_path({"raw_path": raw, "path": "unused"}) == expected


def test_method_arguments_are_bound_strictly() -> None:
    def fn(session: Any, doctype: str, limit: Any = 20) -> None: ...

    method = methods.Method("t.fn", fn, False, ("GET",))
    assert methods.bind(method, {"doctype": "ToDo", "cmd": "t.fn", "_": "123"}) == {"doctype": "ToDo"}
    with pytest.raises(ValidationError, match="unknown argument 'bogus'; it takes doctype, limit"):
        methods.bind(method, {"doctype": "ToDo", "bogus": 1})
    with pytest.raises(ValidationError, match="needs the argument 'doctype'"):
        methods.bind(method, {})
    with pytest.raises(ValidationError, match="doctype must be text"):
        methods.bind(method, {"doctype": ["ToDo"]})


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("20", 20), (5, 5), ("", 7), (None, 7), ("3.0", 3), (True, 1)])
def test_as_int(value: Any, expected: int) -> None:
    assert methods.as_int(value, "n", default=7) == expected


@pytest.mark.parametrize("value", ["x", "-1", "1.5", [1], "9" * 40])
def test_as_int_refuses(value: Any) -> None:
    with pytest.raises(ValidationError):
        methods.as_int(value, "n")


def test_as_bool() -> None:
    assert [methods.as_bool(v) for v in ("1", "true", "Yes", 1, True)] == [True] * 5
    assert [methods.as_bool(v) for v in ("0", "false", "", None, 0, "null")] == [False] * 6
    with pytest.raises(ValidationError):
        methods.as_bool("perhaps")
