"""Authentication: token and Basic keys, login sessions (both login habits), logout, disabled
users, key revocation, and secrets that never appear in clear."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx

from tests.support.http import assert_error
from tests.support.servers import Api, SiteServer

PASSWORD = "Corr3ct-Horse-Battery-Staple"


def test_cli_user_add_and_generate_keys(site: SiteServer, admin: Api) -> None:
    out = site.cli("user", "add", "cli@example.com", "--password", PASSWORD, "--roles", "Sales User,Stock User")
    assert "cli@example.com" in out.stdout
    user = admin.get("User", "cli@example.com")
    assert {r["role"] for r in user["roles"]} == {"Sales User", "Stock User"} and user["enabled"] == 1
    keys = site.keys("cli@example.com")
    assert set(keys) == {"api_key", "api_secret"} and len(keys["api_secret"]) >= 32
    again = site.keys("cli@example.com")
    assert again["api_key"] == keys["api_key"] and again["api_secret"] != keys["api_secret"]
    failed = site.cli("user", "generate-keys", "nobody@example.com", check=False)
    assert failed.returncode != 0 and "Traceback" not in failed.stderr and "nobody@example.com" in failed.stderr
    failed = site.cli("user", "add", "not-an-email", check=False)
    assert failed.returncode != 0 and "Traceback" not in failed.stderr


def test_token_and_basic_auth(site: SiteServer) -> None:
    site.cli("user", "add", "keys@example.com", "--roles", "Sales User")
    keys = site.keys("keys@example.com")
    for api in (site.client(keys["api_key"], keys["api_secret"]),
                Api(site.url, keys["api_key"], keys["api_secret"], basic=True)):
        with api:
            r = api.http.get("/api/method/frappe.auth.get_logged_user")
            assert r.status_code == 200 and r.json()["message"] == "keys@example.com", r.text
            assert api.http.get("/api/resource/Customer").status_code == 200


def test_wrong_credentials_are_401(site: SiteServer, guest: Api) -> None:
    site.cli("user", "add", "wrong@example.com")
    keys = site.keys("wrong@example.com")
    bad_headers = [
        f"token {keys['api_key']}:{'0' * 32}",
        f"token nokey:{keys['api_secret']}",
        f"token {keys['api_key']}",
        "Basic " + base64.b64encode(f"{keys['api_key']}:wrong".encode()).decode(),
        "Basic !!!not-base64!!!",
        "Bearer abc",
    ]
    for header in bad_headers:
        r = guest.http.get("/api/method/ping", headers={"Authorization": header})
        assert_error(r, 401, "AuthenticationError")
        assert keys["api_secret"] not in r.text and r.headers["www-authenticate"]


def test_key_revocation(site: SiteServer) -> None:
    site.cli("user", "add", "revoke@example.com", "--roles", "Sales User")
    old = site.keys("revoke@example.com")
    with site.client(old["api_key"], old["api_secret"]) as api:
        assert api.http.get("/api/method/frappe.auth.get_logged_user").status_code == 200
        new = site.keys("revoke@example.com")
        assert_error(api.http.get("/api/method/frappe.auth.get_logged_user"), 401, "AuthenticationError")
    with site.client(new["api_key"], new["api_secret"]) as api:
        assert api.http.get("/api/method/frappe.auth.get_logged_user").json()["message"] == "revoke@example.com"


def test_login_by_api_method_json_and_form(site: SiteServer) -> None:
    site.cli("user", "add", "Login@Example.com", "--password", PASSWORD, "--first-name", "Lo")
    with httpx.Client(base_url=site.url) as http:
        r = http.post("/api/method/login", json={"usr": "login@example.com", "pwd": PASSWORD})
        assert r.status_code == 200, r.text
        assert r.json() == {"message": "Logged In", "home_page": "/app", "full_name": "Lo"}
        cookie = r.headers["set-cookie"].lower()
        assert "sid=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert http.get("/api/method/frappe.auth.get_logged_user").json()["message"] == "login@example.com"
    with httpx.Client(base_url=site.url) as http:
        r = http.post("/api/method/login/", data={"usr": "Login@Example.com", "pwd": PASSWORD})
        assert r.status_code == 200 and r.json()["message"] == "Logged In", r.text
        assert http.get("/api/method/frappe.auth.get_logged_user").json()["message"] == "login@example.com"


def test_login_and_logout_by_cmd(site: SiteServer, admin: Api) -> None:
    """What FrappeClient does: POST / with cmd=login; GET /?cmd=logout."""
    with httpx.Client(base_url=site.url) as http:
        r = http.post("/", data={"cmd": "login", "usr": "Administrator", "pwd": "admin"})
        assert r.status_code == 200 and r.json()["message"] == "Logged In", r.text
        assert http.get("/api/resource/ToDo").status_code == 200
        sid = http.cookies["sid"]
        r = http.get("/", params={"cmd": "logout"})
        assert r.status_code == 200 and "sid=" in r.headers["set-cookie"]
        assert_error(httpx.get(site.url + "/api/resource/ToDo", cookies={"sid": sid}), 403)  # the session is gone
    with httpx.Client(base_url=site.url) as http:
        http.post("/api/method/login", json={"usr": "Administrator", "pwd": "admin"})
        assert http.post("/api/method/logout").status_code == 200
        assert_error(http.get("/api/resource/ToDo"), 403, "PermissionError")


def test_bad_logins(site: SiteServer, guest: Api) -> None:
    for body in ({"usr": "Administrator", "pwd": "nope"}, {"usr": "ghost@example.com", "pwd": "x"},
                 {"usr": "Guest", "pwd": ""}, {"usr": "Administrator"}, {}):
        r = guest.http.post("/api/method/login", json=body)
        assert assert_error(r, 401, "AuthenticationError")["message"] and "set-cookie" not in r.headers
    assert_error(guest.http.get("/api/method/login", params={"usr": "Administrator", "pwd": "admin"}), 403)


def test_a_stale_sid_is_guest(site: SiteServer) -> None:
    r = httpx.get(site.url + "/api/method/ping", cookies={"sid": "made-up"})
    assert r.status_code == 200
    assert_error(httpx.get(site.url + "/api/resource/ToDo", cookies={"sid": "made-up"}), 403)


def test_disabled_user_is_refused(site: SiteServer, admin: Api) -> None:
    site.cli("user", "add", "off@example.com", "--password", PASSWORD, "--roles", "Sales User")
    keys = site.keys("off@example.com")
    with httpx.Client(base_url=site.url) as browser, site.client(keys["api_key"], keys["api_secret"]) as api:
        assert browser.post("/api/method/login", json={"usr": "off@example.com", "pwd": PASSWORD}).status_code == 200
        assert browser.get("/api/resource/Customer").status_code == 200
        admin.update("User", "off@example.com", {"enabled": 0})
        assert_error(api.http.get("/api/resource/Customer"), 401, "AuthenticationError")
        assert_error(browser.get("/api/resource/Customer"), 403, "PermissionError")  # its session ended
        assert "disabled" in assert_error(
            httpx.post(site.url + "/api/method/login", json={"usr": "off@example.com", "pwd": PASSWORD}), 401)["message"]
        admin.update("User", "off@example.com", {"enabled": 1})
        assert api.http.get("/api/resource/Customer").status_code == 200


def test_a_password_change_ends_the_users_other_sessions(site: SiteServer, admin: Api) -> None:
    """As in Frappe: the session changing its own user's password stays, every other one of that
    user ends; a change by someone else ends them all. Other users' sessions are untouched."""
    site.cli("user", "add", "pw@example.com", "--password", PASSWORD, "--roles", "System Manager")
    site.cli("user", "add", "bystander@example.com", "--password", PASSWORD, "--roles", "Sales User")
    with httpx.Client(base_url=site.url) as mine, httpx.Client(base_url=site.url) as other, \
            httpx.Client(base_url=site.url) as bystander:
        for http, usr in ((mine, "pw@example.com"), (other, "pw@example.com"), (bystander, "bystander@example.com")):
            assert http.post("/api/method/login", json={"usr": usr, "pwd": PASSWORD}).status_code == 200
        r = mine.put("/api/resource/User/pw@example.com", json={"new_password": PASSWORD + "-2"})
        assert r.status_code == 200, r.text
        assert mine.get("/api/method/frappe.auth.get_logged_user").json()["message"] == "pw@example.com"
        assert_error(other.get("/api/resource/ToDo"), 403, "PermissionError")  # its session ended
        assert bystander.get("/api/resource/Customer").status_code == 200
        admin.update("User", "pw@example.com", {"new_password": PASSWORD + "-3"})
        assert_error(mine.get("/api/resource/ToDo"), 403, "PermissionError")
        assert mine.post("/api/method/login", json={"usr": "pw@example.com", "pwd": PASSWORD + "-3"}).status_code == 200
        admin.update("User", "pw@example.com", {"first_name": "Renamed", "new_password": "********"})  # no change
        assert mine.get("/api/method/frappe.auth.get_logged_user").json()["message"] == "pw@example.com"
        assert bystander.get("/api/resource/Customer").status_code == 200


def test_the_standard_users_cant_be_disabled_or_deleted(site: SiteServer, admin: Api) -> None:
    site.cli("user", "add", "manager@example.com", "--roles", "System Manager")
    keys = site.keys("manager@example.com")
    with site.client(keys["api_key"], keys["api_secret"]) as manager:
        for user in ("Administrator", "Guest"):
            assert "can't be disabled" in assert_error(
                manager.http.put(f"/api/resource/User/{user}", json={"enabled": 0}), 417, "ValidationError")["message"]
            assert "can't be deleted" in assert_error(
                manager.http.delete(f"/api/resource/User/{user}"), 417, "ValidationError")["message"]
            assert admin.get("User", user)["enabled"] == 1
        assert_error(manager.http.put("/api/resource/User/Administrator", json={"roles": [{"role": "Administrator"}]}), 417)
    assert admin.http.get("/api/method/frappe.auth.get_logged_user").json()["message"] == "Administrator"


def test_api_keys_are_read_only_and_unique(site: SiteServer, admin: Api) -> None:
    """No one sets an API key or secret through the API: taking another user's key would lock them
    out, or let their key log in as someone else."""
    for user in ("ka@example.com", "kb@example.com"):
        site.cli("user", "add", user, "--roles", "Sales User")
    ka, kb = site.keys("ka@example.com"), site.keys("kb@example.com")
    for changes in ({"api_key": kb["api_key"]}, {"api_secret": "chosen-secret"}):
        r = admin.http.put("/api/resource/User/ka@example.com", json=changes)
        assert "read only" in assert_error(r, 417, "ValidationError")["message"] and "chosen" not in r.text
    r = admin.http.post("/api/method/frappe.client.set_value",
                        json={"doctype": "User", "name": "ka@example.com", "fieldname": "api_key", "value": kb["api_key"]})
    assert_error(r, 417, "ValidationError")
    whole = admin.get("User", "ka@example.com")
    assert admin.http.put("/api/resource/User/ka@example.com", json={**whole, "last_name": "K"}).status_code == 200
    for keys, user in ((ka, "ka@example.com"), (kb, "kb@example.com")):
        with site.client(keys["api_key"], keys["api_secret"]) as api:
            assert api.http.get("/api/method/frappe.auth.get_logged_user").json()["message"] == user
    with site.client(kb["api_key"], ka["api_secret"]) as crossed:
        assert_error(crossed.http.get("/api/method/frappe.auth.get_logged_user"), 401)


def test_secrets_never_in_clear(site: SiteServer, admin: Api) -> None:
    """Neither the API secret nor a password appears in the database file, any answer, or the log."""
    site.cli("user", "add", "secret@example.com", "--password", PASSWORD, "--roles", "System Manager")
    keys = site.keys("secret@example.com")
    seen: list[bytes] = []
    hooks = {"response": [lambda r: seen.append(r.read() + str(r.headers).encode())]}
    with httpx.Client(base_url=site.url, event_hooks=hooks,
                      headers={"Authorization": f"token {keys['api_key']}:{keys['api_secret']}"}) as http:
        for path, params in [
            ("/api/resource/User/secret@example.com", {}),
            ("/api/resource/User", {"fields": '["*"]', "limit_page_length": 0}),
            ("/api/resource/User", {"fields": '["name", "api_secret", "new_password"]'}),
            ("/api/method/frappe.client.get", {"doctype": "User", "name": "secret@example.com"}),
            ("/api/method/frappe.client.get_value", {"doctype": "User", "fieldname": "api_secret", "filters": "secret@example.com"}),
            ("/api/method/frappe.client.get_list", {"doctype": "User", "fields": '["*"]'}),
            ("/api/openapi.json", {}),
            ("/api/method/login", {}),
        ]:
            http.get(path, params=params)
        http.put("/api/resource/User/secret@example.com", json={"last_name": "Kept"})
        http.post("/api/method/login", json={"usr": "secret@example.com", "pwd": PASSWORD})
        http.post("/api/method/login", json={"usr": "secret@example.com", "pwd": PASSWORD + "x"})
    user = admin.get("User", "secret@example.com")
    assert user["api_secret"] == "********" and user["new_password"] is None
    assert len(seen) == 11
    for blob in seen:
        assert keys["api_secret"].encode() not in blob and PASSWORD.encode() not in blob
    site_dir = Path(site.sites_dir) / site.name
    for file in site_dir.glob("site.db*"):
        data = file.read_bytes()
        assert keys["api_secret"].encode() not in data and PASSWORD.encode() not in data, file
    log = Path(site.log_path).read_bytes()
    assert keys["api_secret"].encode() not in log and PASSWORD.encode() not in log


def test_password_fields_masked_everywhere(site: SiteServer, admin: Api) -> None:
    admin.insert({"doctype": "DocType", "name": "Vault Entry", "module": "Custom", "autoname": "field:label",
                  "custom": 1, "fields": [{"fieldname": "label", "fieldtype": "Data", "reqd": 1},
                                          {"fieldname": "secret", "fieldtype": "Password"}],
                  "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]})
    clear = "vault-value-0123456789"
    answers = [
        admin.http.post("/api/resource/Vault Entry", json={"label": "v1", "secret": clear}),
        admin.http.get("/api/resource/Vault Entry/v1"),
        admin.http.get("/api/resource/Vault Entry", params={"fields": '["*"]'}),
        admin.http.get("/api/resource/Vault Entry", params={"fields": '["secret"]', "filters": '{"label": "v1"}'}),
        admin.http.put("/api/resource/Vault Entry/v1", json={"secret": clear + "2"}),
        admin.http.post("/api/method/frappe.client.get_value", json={"doctype": "Vault Entry", "fieldname": "secret", "filters": "v1"}),
        admin.http.post("/api/method/frappe.client.insert", json={"doc": {"doctype": "Vault Entry", "label": "v2", "secret": clear}}),
        admin.http.post("/api/method/frappe.client.set_value", json={"doctype": "Vault Entry", "name": "v2", "fieldname": "secret", "value": clear}),
    ]
    for r in answers:
        assert r.status_code == 200, r.text
        assert clear not in r.text and "********" in r.text, r.text
    db = b"".join(f.read_bytes() for f in (Path(site.sites_dir) / site.name).glob("site.db*"))
    assert clear.encode() not in db and clear.encode() not in Path(site.log_path).read_bytes()
    assert json.loads(answers[1].text)["data"]["secret"] == "********"


def test_password_fields_of_child_rows_masked_everywhere(site: SiteServer, admin: Api) -> None:
    """A child table's Password field is a secret like its parent's: masked in every answer and
    in the database, and kept out of the update log that consumers read."""
    admin.insert({"doctype": "DocType", "name": "Vault Key", "module": "Custom", "istable": 1, "custom": 1,
                  "fields": [{"fieldname": "label", "fieldtype": "Data"}, {"fieldname": "pin", "fieldtype": "Password"}]})
    admin.insert({"doctype": "DocType", "name": "Key Ring", "module": "Custom", "autoname": "field:title", "custom": 1,
                  "fields": [{"fieldname": "title", "fieldtype": "Data", "reqd": 1},
                             {"fieldname": "keys", "fieldtype": "Table", "options": "Vault Key"}],
                  "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]})
    consumer = "http://127.0.0.1:9/key-ring-consumer"  # subscribed and approved: Key Ring changes are logged
    admin.insert({"doctype": "Event Consumer", "callback_url": consumer, "user": "Administrator", "api_key": "k",
                  "api_secret": "s", "consumer_doctypes": [{"ref_doctype": "Key Ring", "status": "Approved"}]})
    clear = "child-pin-0123456789"
    answers = [
        admin.http.post("/api/resource/Key Ring", json={"title": "r1", "keys": [{"label": "a", "pin": clear}]}),
        admin.http.get("/api/resource/Key Ring/r1"),
        admin.http.put("/api/resource/Key Ring/r1", json={"keys": [{"label": "b", "pin": clear + "2"}]}),
        admin.http.get("/api/resource/Event Update Log", params={"fields": '["name", "data", "snapshot"]', "limit_page_length": 0}),
        admin.http.post("/api/method/docstream.streaming.get_updates", json={"event_consumer": consumer}),
        admin.http.get("/app/event-update-log"),
    ]
    for r in answers:
        assert r.status_code == 200, r.text
        assert clear not in r.text, r.text
    assert "********" in answers[0].text and "********" in answers[1].text and "Key Ring" in answers[4].text
    logs = [log for log in json.loads(answers[3].text)["data"] if "Key Ring" in (log["data"] or "") + (log["snapshot"] or "")]
    assert logs
    for log in logs:
        page = admin.http.get(f"/app/event-update-log/{log['name']}")
        assert page.status_code == 200 and "Key Ring" in page.text and clear not in page.text
    db = b"".join(f.read_bytes() for f in (Path(site.sites_dir) / site.name).glob("site.db*"))
    assert clear.encode() not in db and clear.encode() not in Path(site.log_path).read_bytes()
