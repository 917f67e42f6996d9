"""Bad input (SPEC §7): 400 malformed, 413 too large (refused before it is read), 417 invalid,
404/403/409 as Frappe does; never a 500, never a traceback, and nothing written on failure."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.http import assert_error, raw_http
from tests.support.servers import Api, SiteServer

SMALL_LIMIT = 4096
TEN_MIB = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def small(serve_module) -> SiteServer:
    """A site whose body limit is 4 KiB (site setting max_body_size)."""
    server = serve_module("small.local", start=False)
    server.cli("set-config", "max_body_size", str(SMALL_LIMIT))
    return server.start()


@pytest.fixture(scope="module")
def small_admin(small: SiteServer) -> Iterator[Api]:
    with small.admin() as api:
        yield api


def count(api: Api, doctype: str) -> int:
    return api.call("frappe.client.get_count", doctype=doctype)


# -- 400 ----------------------------------------------------------------------
@pytest.mark.parametrize("body", [b'{"description": ', b"{'single': 'quotes'}", b'{"a": NaN}', b"[" * 100_000,
                                  b'{"a": 1} trailing', b"\xff\xfe{}"])
def test_malformed_json_is_400(admin: Api, body: bytes) -> None:
    headers = {"content-type": "application/json"}
    assert_error(admin.http.post("/api/resource/ToDo", content=body, headers=headers), 400, "MalformedRequestError")
    assert_error(admin.http.post("/api/method/frappe.client.insert", content=body, headers=headers), 400)


def test_malformed_json_in_the_data_field_is_400(admin: Api) -> None:
    before = count(admin, "ToDo")
    assert_error(admin.http.post("/api/resource/ToDo", data={"data": '{"description": "x"'}), 400, "MalformedRequestError")
    assert_error(admin.http.put("/api/resource/ToDo/x", data={"data": "not json"}), 400)
    assert count(admin, "ToDo") == before


def test_other_unreadable_requests_are_400(admin: Api, site: SiteServer) -> None:
    assert_error(admin.http.post("/api/resource/ToDo", content=b"<xml/>", headers={"content-type": "application/xml"}), 400)
    status, _, body = raw_http(site.port, "POST /api/method/ping HTTP/1.1\nHost: x\nContent-Length: abc")
    assert status == 400 and b"Traceback" not in body


# -- 413 ----------------------------------------------------------------------
def test_declared_length_over_the_limit_is_refused_before_reading(site: SiteServer, small: SiteServer) -> None:
    """Only the headers are sent: the answer comes without the body (a server waiting for it would
    make the socket time out)."""
    for server, limit in ((site, TEN_MIB), (small, SMALL_LIMIT)):
        status, headers, body = raw_http(server.port, "POST /api/resource/ToDo HTTP/1.1\nHost: x\n"
                                         f"Content-Type: application/json\nContent-Length: {limit + 1}", timeout=10)
        assert status == 413
        assert json.loads(body)["exc_type"] == "RequestTooLargeError" and headers["x-request-id"]


def test_chunked_body_over_the_limit_is_413(small: SiteServer, small_admin: Api) -> None:
    before = count(small_admin, "ToDo")

    def chunks() -> Iterator[bytes]:
        yield b'{"description": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    r = small_admin.http.post("/api/resource/ToDo", content=chunks(), headers={"content-type": "application/json"})
    assert "transfer-encoding" not in r.request.headers or r.request.headers["transfer-encoding"] == "chunked"
    assert_error(r, 413, "RequestTooLargeError")
    assert count(small_admin, "ToDo") == before


def test_chunked_body_over_the_default_10_mib_is_413(admin: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"description": "'
        for _ in range(12):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    assert_error(admin.http.post("/api/resource/ToDo", content=chunks(), headers={"content-type": "application/json"}),
                 413, "RequestTooLargeError")


def test_bodies_within_the_limit_pass(small_admin: Api, admin: Api) -> None:
    assert small_admin.insert({"doctype": "ToDo", "description": "x" * (SMALL_LIMIT - 100)})
    assert_error(small_admin.http.post("/api/resource/ToDo", json={"description": "x" * SMALL_LIMIT}), 413)
    assert admin.insert({"doctype": "ToDo", "description": "y" * (1024 * 1024)})["description"].startswith("yyy")


def test_over_the_limit_through_a_form_and_a_method(small_admin: Api) -> None:
    assert_error(small_admin.http.post("/api/method/frappe.client.insert", data={"doc": "x" * SMALL_LIMIT}), 413)
    files = {"file": ("a.txt", b"x" * SMALL_LIMIT)}
    assert_error(small_admin.http.post("/api/method/frappe.client.insert", files=files), 413)


# -- 417 and friends, never 500 -----------------------------------------------------
BAD_LISTS = [
    {"filters": "not json"}, {"filters": '{"nope": 1}'}, {"filters": '[["name", "~", 1]]'},
    {"filters": '[["name"]]'}, {"filters": '[["name", "is", "maybe"]]'}, {"filters": '{"name": ["between", 1]}'},
    {"filters": '[["User", "name", "=", "x"]]'}, {"filters": '{"name": {"a": 1}}'}, {"filters": "42"},
    {"fields": '["name; drop table x"]'}, {"fields": '["nope"]'}, {"fields": '{"a": 1}'}, {"fields": '["name as n"]'},
    {"order_by": "name; drop table x"}, {"order_by": "nope desc"}, {"order_by": "(select 1)"},
    {"limit_page_length": "ten"}, {"limit_page_length": "-1"}, {"limit_start": "1.5"}, {"limit": "9" * 40},
    {"as_dict": "perhaps"}, {"or_filters": '[["name", "=", "x"]]'}, {"expand": "1"},
    {"filters": '[[["x"], "name", "=", "x"]]'}, {"filters": '[[{"a": 1}, "name", "=", "x"]]'},
]


@pytest.mark.parametrize("params", BAD_LISTS)
def test_bad_list_arguments_are_417(admin: Api, params: dict[str, str]) -> None:
    assert_error(admin.http.get("/api/resource/ToDo", params=params), 417)


OVER_LARGE_LISTS = [  # past the documented limits (200 filters, 500 fields, 100 order_by columns, 30,000 values)
    ({"filters": [["description", "like", "%a%"]] * 201}, "at most 200 filters; this one has 201"),
    ({"filters": [["description", "like", "%a%"]] * 1500}, "at most 200 filters; this one has 1500"),
    ({"fields": ["name"] * 501}, "at most 500 fields; this one has 501"),
    ({"fields": ["name"] * 5000}, "at most 500 fields; this one has 5000"),
    ({"order_by": ",".join(["name"] * 101)}, "at most 100 columns in order_by; this one has 101"),
    ({"order_by": ",".join(["name"] * 5000)}, "at most 100 columns in order_by; this one has 5000"),
    ({"filters": [["description", "in", [str(i) for i in range(30_001)]]]}, "may bind at most 30000 values"),
    ({"filters": [["description", "not in", [str(i) for i in range(20_000)]]] * 2}, "may bind at most 30000 values"),
    ({"filters": "[" * 5000 + "]" * 5000}, "nested too deeply"),
]


@pytest.mark.parametrize(("args", "message"), OVER_LARGE_LISTS)
def test_over_large_list_requests_are_417_not_500(admin: Api, args: dict[str, Any], message: str) -> None:
    r = admin.http.post("/api/method/frappe.client.get_list", json={"doctype": "ToDo", **args})
    assert_error(r, 417, "ValidationError")
    assert message in r.json()["message"]
    params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in args.items()}
    if len(urllib.parse.urlencode(params)) < 60_000:  # what fits in a URL
        assert_error(admin.http.get("/api/resource/ToDo", params=params), 417, "ValidationError")
    count_args = {"filters": args["filters"]} if "filters" in args else None
    if count_args:
        assert_error(admin.http.post("/api/method/frappe.client.get_count", json={"doctype": "ToDo", **count_args}), 417)


def test_list_requests_at_the_limits_pass(admin: Api) -> None:
    args = {"doctype": "ToDo", "filters": [["description", "not like", "%zz%"]] * 199 + [["name", "in", ["x"] * 29_000]],
            "fields": ["name"] * 500, "order_by": ",".join(["name"] * 100), "limit_page_length": 1}
    r = admin.http.post("/api/method/frappe.client.get_list", json=args)
    assert r.status_code == 200, r.text


def _deep(levels: int) -> Any:
    return json.loads("[" * levels + "]" * levels)


@pytest.fixture(scope="module")
def payload_field(admin: Api) -> str:
    admin.insert({"doctype": "Custom Field", "dt": "Note", "fieldname": "payload", "fieldtype": "JSON", "label": "Payload"})
    return "payload"


@pytest.mark.parametrize("levels", [101, 480, 500, 900])
def test_a_json_value_nested_past_the_limit_is_417_naming_the_field(admin: Api, payload_field: str, levels: int) -> None:
    before = count(admin, "Note")
    for value in (_deep(levels), "[" * levels + "]" * levels):  # as JSON, and as a JSON string
        r = admin.http.post("/api/resource/Note", json={"title": "deep", payload_field: value})
        assert_error(r, 417, "ValidationError")
        assert r.json()["field"] == payload_field and "at most 100 levels deep" in r.json()["message"]
    assert count(admin, "Note") == before
    note = admin.insert({"doctype": "Note", "title": "shallow"})
    assert_error(admin.http.put(f"/api/resource/Note/{note['name']}", json={payload_field: _deep(levels)}), 417)


def test_a_json_value_at_the_limit_is_stored_and_answered(admin: Api, payload_field: str) -> None:
    note = admin.insert({"doctype": "Note", "title": "deep enough", payload_field: {"a": _deep(99)}})
    assert admin.get("Note", note["name"])[payload_field] == {"a": _deep(99)}


def test_a_body_nested_past_what_the_parser_takes_is_400(admin: Api, payload_field: str) -> None:
    body = b'{"title": "x", "payload": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert_error(admin.http.post("/api/resource/Note", content=body, headers={"content-type": "application/json"}), 400,
                 "MalformedRequestError")


BAD_DOCS = [
    ("ToDo", {"description": "x", "nope": 1}, "UnknownFieldError"),
    ("ToDo", {"description": "x", "status": "Maybe"}, "ValidationError"),
    ("ToDo", {"description": "x", "date": "31/12/2026"}, "ValidationError"),
    ("ToDo", {"description": {"nested": 1}}, "ValidationError"),
    ("ToDo", {"description": "x", "docstatus": 1}, "DocstatusError"),
    ("ToDo", {"description": "x", "docstatus": "one"}, None),
    ("Item", {"item_code": "BAD-1", "standard_rate": "cheap"}, "ValidationError"),
    ("Note", {"title": "x", "public": 7}, "ValidationError"),
    ("Note", {"title": "x", "seen_by": "everyone"}, "ValidationError"),
    ("Note", {"title": "x", "seen_by": [{"user": "ghost@example.com"}]}, "LinkValidationError"),
    ("Sales Invoice", {"customer": "ghost"}, "LinkValidationError"),
    ("Sales Invoice", {"customer": "x", "docstatus": 2}, "DocstatusError"),
    ("Sales Invoice Item", {"item_code": "x"}, "ValidationError"),
    ("DocType", {"name": "bad name!", "fields": []}, "ValidationError"),
    ("DocType", {"name": 1, "fields": []}, "ValidationError"),
    ("Note", {"title": "x", "seen_by": [{"name": [1], "user": "Administrator"}]}, "ValidationError"),
    ("Note", {"title": "x", "seen_by": [{"name": {"a": 1}, "user": "Administrator"}]}, "ValidationError"),
]


@pytest.mark.parametrize(("doctype", "doc", "exc_type"), BAD_DOCS)
def test_invalid_documents_are_417_and_write_nothing(admin: Api, doctype: str, doc: dict, exc_type: str | None) -> None:
    table = doctype if doctype != "Sales Invoice Item" else "ToDo"
    before = count(admin, table)
    assert_error(admin.http.post(f"/api/resource/{doctype}", json=doc), 417, exc_type)
    assert count(admin, table) == before


@pytest.mark.parametrize("where", [{"parenttype": [1]}, {"parentfield": [1]}, {"parent": {"a": 1}}])
def test_a_child_row_put_nowhere_is_417_and_writes_nothing(admin: Api, where: dict) -> None:
    note = admin.insert({"doctype": "Note", "title": "parent"})
    row = {"doctype": "Note Seen By", "parenttype": "Note", "parent": note["name"], "parentfield": "seen_by",
           "user": "Administrator", **where}
    assert_error(admin.http.post("/api/method/frappe.client.insert", json={"doc": row}), 417, "ValidationError")
    assert admin.get("Note", note["name"]) == note


def test_a_failed_update_leaves_the_document_as_it_was(admin: Api) -> None:
    admin.insert({"doctype": "Customer", "customer_name": "Steady"})
    admin.insert({"doctype": "Item", "item_code": "STEADY"})
    inv = admin.insert({"doctype": "Sales Invoice", "customer": "Steady", "items": [{"item_code": "STEADY", "rate": 3}]})
    bad = {"remarks": "changed", "items": [{"item_code": "STEADY", "rate": 9}, {"item_code": "GHOST"}]}
    assert_error(admin.http.put(f"/api/resource/Sales Invoice/{inv['name']}", json=bad), 417, "LinkValidationError")
    assert admin.get("Sales Invoice", inv["name"]) == inv
    assert_error(admin.http.put(f"/api/resource/Sales Invoice/{inv['name']}", json={"modified": "2000-01-01 00:00:00.000000",
                                                                                    "remarks": "stale"}), 417)
    assert admin.get("Sales Invoice", inv["name"]) == inv


def test_other_bad_requests_are_never_500(admin: Api, site: SiteServer) -> None:
    checks = [
        (admin.http.get("/api/resource/ToDo/%FF%FE"), (404, 417)),
        (admin.http.post("/api/resource/ToDo", json=["a", "list"]), (417,)),
        (admin.http.post("/api/resource/ToDo", json="a string"), (417,)),
        (admin.http.put("/api/resource/ToDo/nope", json={"description": "x"}), (404,)),
        (admin.http.delete("/api/resource/ToDo/nope"), (404,)),
        (admin.http.post("/api/resource/ToDo", json={"description": "x", "name": "\x00"}), (200, 417)),
        (admin.http.post("/api/method/frappe.client.get_value", json={"doctype": "ToDo", "fieldname": [1, [2]]}), (417,)),
        (admin.http.post("/api/method/frappe.client.insert", json={"doc": "[1, 2]"}), (417,)),
        (admin.http.post("/api/method/frappe.client.insert", json={"doc": {"doctype": 5}}), (417,)),
        (admin.http.post("/api/method/frappe.client.bulk_update", json={"docs": "{}"}), (417,)),
        (admin.http.post("/api/method/frappe.client.get_list", json={"doctype": ["ToDo"]}), (404, 417)),
        (admin.http.get("/api/method/frappe.client.get_list", params={"doctype": "ToDo", "filters": '{"idx": ' + "9" * 30 + "}"}), (200, 417)),
        (admin.http.post("/api/resource/Item", content=b'{"item_code": "BIG", "standard_rate": 1e400}',
                         headers={"content-type": "application/json"}), (400,)),
        (admin.http.post("/api/resource/ToDo", json={"description": "x" * 100, "priority": None}), (200,)),
        (admin.http.post("/api/resource/ToDo", json={"description": "x", "idx": 10**30}), (417,)),
    ]
    for response, allowed in checks:
        assert response.status_code in allowed, (response.request.url, response.text)
        assert "Traceback" not in response.text
        if response.status_code >= 400:
            assert_error(response, response.status_code)
    status, _, body = raw_http(site.port, "GET /api/resource/ToDo%zz HTTP/1.1\nHost: x")
    assert status < 500 and b"Traceback" not in body


def test_request_ids_are_echoed_or_made(admin: Api) -> None:
    r = admin.http.get("/api/method/ping", headers={"X-Request-ID": "probe-123"})
    assert r.headers["x-request-id"] == "probe-123"
    r = admin.http.get("/api/method/ping", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces" and len(r.headers["x-request-id"]) == 32


def test_error_statuses_match_frappe(admin: Api, guest: Api) -> None:
    assert_error(guest.http.get("/api/resource/ToDo"), 403, "PermissionError")
    assert_error(guest.http.get("/api/resource/ToDo", headers={"Authorization": "token a:b"}), 401, "AuthenticationError")
    assert_error(admin.http.get("/api/resource/Nope"), 404, "DoesNotExistError")
    admin.insert({"doctype": "Company", "company_name": "Twice"})
    assert_error(admin.http.post("/api/resource/Company", json={"company_name": "Twice"}), 409, "DuplicateEntryError")


def test_slow_clients_do_not_block_others(site: SiteServer) -> None:
    """A client that declares a body and never sends it holds only its own connection."""
    import socket

    with socket.create_connection(("127.0.0.1", site.port)) as sock:
        sock.sendall(b"POST /api/method/ping HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        assert httpx.get(site.url + "/api/method/ping", timeout=5).json() == {"message": "pong"}
