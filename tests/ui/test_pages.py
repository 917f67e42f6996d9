"""The desk over real HTTP against a real ``serve``: login, pages, forms, lists, permissions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from docstream.model.meta import slug
from tests.support.servers import Api, SiteServer
from tests.ui.conftest import Desk, text_of


def test_guests_are_sent_to_login_and_come_back(guest_desk: Desk, desk_site: SiteServer) -> None:
    r = guest_desk.get("/app/customer?customer_group=Retail")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?redirect-to=" + quote("/app/customer?customer_group=Retail", safe="")
    login = guest_desk.http.post("/login", data={"usr": "Administrator", "pwd": "admin",
                                                 "redirect-to": "/app/customer?customer_group=Retail"})
    assert login.status_code == 303 and login.headers["location"] == "/app/customer?customer_group=Retail"
    assert guest_desk.get(login.headers["location"]).status_code == 200


def test_a_wrong_password_is_refused_on_the_login_page(guest_desk: Desk) -> None:
    r = guest_desk.login("Administrator", "wrong")
    assert r.status_code == 401
    assert "Invalid login" in text_of(r.text)
    assert "sid" not in r.cookies
    assert guest_desk.get("/app").status_code == 303


def test_login_never_redirects_to_another_site(guest_desk: Desk) -> None:
    r = guest_desk.http.post("/login", data={"usr": "Administrator", "pwd": "admin", "redirect-to": "//evil.example/x"})
    assert r.headers["location"] == "/app"


def test_logout_needs_the_token_and_ends_the_session(desk_site: SiteServer) -> None:
    desk = Desk(desk_site.url)
    desk.login("Administrator", "admin")
    assert desk.post("/logout", {}, token=False).status_code == 403
    assert desk.get("/app").status_code == 200
    assert desk.post("/logout", {}).headers["location"] == "/login"
    assert desk.get("/app").status_code == 303
    desk.close()


def test_home_shows_event_streaming_first_then_modules(admin_desk: Desk) -> None:
    page = admin_desk.get("/app").text
    streaming = page.index('id="event-streaming"')
    for doctype in ("Event Producer", "Event Consumer", "Event Update Log", "Event Sync Log", "Document Type Mapping"):
        assert f'href="/app/{slug(doctype)}"' in page[streaming:]
    assert 'href="/app/event-streaming"' in page
    for module in ("Core", "Selling", "Accounts"):
        assert f"<h2>{module}</h2>" in page
    assert 'href="/app/sales-invoice"' in page


@pytest.mark.parametrize("path", ["/app/event-streaming", "/app/sync-dashboard"])
def test_the_sync_dashboard_renders(admin_desk: Desk, path: str) -> None:
    r = admin_desk.get(path, follow_redirects=True)
    assert r.status_code == 200
    assert 'id="producers"' in r.text and 'id="consumers"' in r.text and "<svg" in r.text


def test_every_doctype_has_a_list_and_a_new_form(admin_desk: Desk, desk_site: SiteServer, api: Api) -> None:
    doctypes = [d["name"] for d in api.get_list("DocType", fields=["name", "istable"]) if not d["istable"]]
    assert len(doctypes) > 10
    for doctype in doctypes:
        listing = admin_desk.get(f"/app/{slug(doctype)}")
        assert listing.status_code == 200, (doctype, listing.text[:500])
        form = admin_desk.get(f"/app/{slug(doctype)}/new")
        assert form.status_code == 200, (doctype, form.text[:500])
        assert "Traceback" not in listing.text + form.text


def test_pages_carry_a_strict_content_security_policy(admin_desk: Desk) -> None:
    r = admin_desk.get("/app/note")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


def test_an_unknown_doctype_or_document_is_a_404_page(admin_desk: Desk) -> None:
    assert admin_desk.get("/app/no-such-doctype").status_code == 404
    r = admin_desk.get("/app/customer/Nobody%20Here")
    assert r.status_code == 404 and "Nobody Here" in text_of(r.text)


def test_a_form_posted_without_its_token_is_refused(admin_desk: Desk, desk_site: SiteServer, api: Api) -> None:
    data = {"customer_name": "Token Test", "_action": "save"}
    r = admin_desk.post("/app/customer/new", data, token=False)
    assert r.status_code == 403 and "security token" in text_of(r.text)
    r = admin_desk.post("/app/customer/new", [*data.items(), ("csrf_token", "0" * 40)], token=False)
    assert r.status_code == 403
    r = admin_desk.http.post("/app/customer/new", data={**data, "csrf_token": admin_desk.token()},
                             headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert api.get_list("Customer", filters={"customer_name": "Token Test"}) == []
    assert admin_desk.post("/app/customer/new", data).status_code == 303


def test_htmx_requests_may_send_the_token_as_a_header(admin_desk: Desk) -> None:
    r = admin_desk.http.post("/app/customer/new", data={"customer_name": "Header Token"},
                             headers={"X-Frappe-CSRF-Token": admin_desk.token()})
    assert r.status_code == 303


def test_names_with_slashes_and_colons_round_trip(admin_desk: Desk) -> None:
    name = "http://store1:8000/a b?c#d%"
    r = admin_desk.post("/app/customer/new", {"customer_name": name})
    assert r.status_code == 303
    location = r.headers["location"]
    assert location == "/app/customer/" + quote(name, safe="") + "?done=saved"
    form = admin_desk.get(location)
    assert form.status_code == 200 and name in text_of(form.text)
    listing = admin_desk.get("/app/customer", params={"name": "store1"}).text
    assert 'href="/app/customer/' + quote(name, safe="") + '"' in listing
    saved = admin_desk.post("/app/customer/" + quote(name, safe=""), {"customer_group": "Web", "_action": "save"})
    assert saved.status_code == 303, saved.text


def test_document_data_is_escaped(admin_desk: Desk) -> None:
    attack = '<script>alert(1)</script><img src=x onerror=alert(2)>"\''
    r = admin_desk.post("/app/note/new", {"title": attack, "content": attack})
    assert r.status_code == 303
    for page in (admin_desk.get(r.headers["location"]).text, admin_desk.get("/app/note").text):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_validation_errors_show_next_to_their_field(admin_desk: Desk) -> None:
    r = admin_desk.post("/app/sales-invoice/new", {"company": "", "remarks": "kept"})
    assert r.status_code == 417
    control = re.search(r'data-fieldname="customer".*?</div>\s*</div>', r.text, re.S)
    assert control and "field-error" in control.group(0) and "Customer is required" in text_of(control.group(0))
    assert 'id="form-error"' in r.text
    assert ">kept</textarea>" in r.text  # what was typed is still there


def test_an_error_in_a_grid_row_marks_the_grid(admin_desk: Desk) -> None:
    r = admin_desk.post("/app/sales-invoice/new", [("customer", ""), ("__table.items", "1"), ("items.n1.qty", "2")])
    assert r.status_code == 417
    assert "Item Code is required" in text_of(r.text) or "Customer is required" in text_of(r.text)


def test_child_tables_add_change_and_remove_rows(admin_desk: Desk, desk_site: SiteServer, api: Api) -> None:
    api.insert({"doctype": "Customer", "customer_name": "Grid Co"})
    for code in ("PEN", "INK"):
        api.insert({"doctype": "Item", "item_code": code, "standard_rate": 2})
    r = admin_desk.post("/app/sales-invoice/new", [
        ("customer", "Grid Co"), ("__table.items", "1"),
        ("items.n1.item_code", "PEN"), ("items.n1.qty", "2"), ("items.n1.rate", "1.5"),
        ("items.n2.item_code", "INK"), ("items.n2.qty", "1"), ("items.n2.rate", "4"),
        ("items.n3.item_code", ""), ("items.n3.qty", ""),  # a blank row is dropped
    ])
    assert r.status_code == 303, text_of(r.text)
    name = r.headers["location"].split("/")[-1].split("?")[0]
    doc = api.get("Sales Invoice", name)
    assert [(i["item_code"], i["qty"]) for i in doc["items"]] == [("PEN", 2.0), ("INK", 1.0)]
    assert doc["grand_total"] == 7.0
    pen = doc["items"][0]
    r = admin_desk.post(f"/app/sales-invoice/{name}", [
        ("modified", doc["modified"]), ("customer", "Grid Co"), ("__table.items", "1"),
        ("items.r1.name", pen["name"]), ("items.r1.item_code", "PEN"), ("items.r1.qty", "5"), ("items.r1.rate", "1.5"),
    ])
    assert r.status_code == 303, text_of(r.text)
    doc = api.get("Sales Invoice", name)
    assert [(i["name"], i["qty"]) for i in doc["items"]] == [(pen["name"], 5.0)]


def test_add_row_without_javascript_reshows_the_form(admin_desk: Desk) -> None:
    r = admin_desk.post("/app/sales-invoice/new", [
        ("customer", "Grid Co"), ("__table.items", "1"), ("items.n1.item_code", "PEN"), ("_action", "add_row:items"),
    ])
    assert r.status_code == 200
    rows = re.findall(r'<tr class="grid-row" data-row-key="([\w-]+)"', r.text)
    assert len(rows) == 2 and rows[0] == "n1"
    removed = admin_desk.post("/app/sales-invoice/new", [
        ("customer", "Grid Co"), ("__table.items", "1"), ("items.n1.item_code", "PEN"), ("items.n2.item_code", "INK"),
        ("_action", "remove_row:items:n1"),
    ])
    assert re.findall(r'data-row-key="([\w-]+)"', removed.text) == ["n2"]


def test_the_add_row_fragment_is_one_empty_row(admin_desk: Desk) -> None:
    r = admin_desk.get("/app/_row", params={"doctype": "Event Producer", "table": "producer_doctypes"})
    assert r.status_code == 200 and r.text.count("<tr") == 1
    for fieldname in ("ref_doctype", "use_same_name", "unsubscribe", "condition", "initial_sync", "has_mapping", "mapping"):
        assert re.search(rf'name="producer_doctypes\.n[0-9a-f]+\.{fieldname}"', r.text), fieldname
    assert not re.search(r'name="producer_doctypes\.n[0-9a-f]+\.status"', r.text)  # read only


def test_link_lookup_lists_matching_names(admin_desk: Desk) -> None:
    r = admin_desk.get("/app/_lookup", params={"target": "Item", "input": "items.n1.item_code", "items.n1.item_code": "IN"})
    assert '<option value="INK">' in r.text and "PEN" not in r.text
    r = admin_desk.get("/app/_lookup", params={"target_from": "reference_type", "reference_type": "Customer",
                                               "input": "reference_name", "reference_name": "Grid"})
    assert '<option value="Grid Co">' in r.text


def test_submit_cancel_and_delete(admin_desk: Desk, desk_site: SiteServer, api: Api) -> None:
    doc = api.insert({"doctype": "Sales Invoice", "customer": "Grid Co", "items": [{"item_code": "PEN", "rate": 3}]})
    url = f"/app/sales-invoice/{doc['name']}"
    assert 'id="btn-submit"' in admin_desk.get(url).text
    assert admin_desk.post(url, {"_action": "submit", "modified": doc["modified"]}).status_code == 303
    page = admin_desk.get(url).text
    assert "Submitted" in page and 'id="btn-cancel"' in page and 'id="btn-save"' not in page and 'id="btn-delete"' not in page
    assert admin_desk.post(url, {"_action": "cancel"}).status_code == 303
    assert api.get("Sales Invoice", doc["name"])["docstatus"] == 2
    r = admin_desk.post(url, {"_action": "delete"})
    assert r.status_code == 303 and r.headers["location"] == "/app/sales-invoice?done=deleted"
    assert api.get_list("Sales Invoice", filters={"name": doc["name"]}) == []


def test_editing_a_stale_form_says_so(admin_desk: Desk, desk_site: SiteServer, api: Api) -> None:
    doc = api.insert({"doctype": "Customer", "customer_name": "Stale Co"})
    api.update("Customer", "Stale Co", {"territory": "North"})
    r = admin_desk.post("/app/customer/Stale%20Co", {"modified": doc["modified"], "territory": "South"})
    assert r.status_code == 417 and "modified after you opened it" in text_of(r.text)
    assert api.get("Customer", "Stale Co")["territory"] == "North"


def test_passwords_are_never_rendered_and_keys_show_once(admin_desk: Desk, desk_site: SiteServer) -> None:
    desk_site.cli("user", "add", "keys@example.com", "--password", "s3cret-pw", "--roles", "System Manager")
    url = "/app/user/keys%40example.com"
    form = admin_desk.get(url).text
    assert 'id="btn-generate-keys"' in form
    assert "s3cret-pw" not in form
    r = admin_desk.post(url, {"_action": "generate_keys"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    secret = re.search(r'<code id="api-secret">([0-9a-f]+)</code>', r.text).group(1)
    key = re.search(r'<code id="api-key">([0-9a-f]+)</code>', r.text).group(1)
    with desk_site.client(key, secret) as as_keys:
        assert as_keys.get("User", "keys@example.com")["name"] == "keys@example.com"
    again = admin_desk.get(url).text
    assert secret not in again and key in again
    for match in re.finditer(r'<input type="password"[^>]*>', again):
        assert 'value=""' in match.group(0)


def test_the_password_field_sets_a_password(admin_desk: Desk, desk_site: SiteServer) -> None:
    r = admin_desk.post("/app/user/new", [("email", "new@example.com"), ("first_name", "New"),
                                          ("new_password", "pw-from-form"), ("__table.roles", "1"),
                                          ("roles.n1.role", "Sales User")])
    assert r.status_code == 303, text_of(r.text)
    fresh = Desk(desk_site.url)
    assert fresh.login("new@example.com", "pw-from-form").status_code == 303
    fresh.close()


def test_list_counts_pages_filters_and_sorts(admin_desk: Desk, desk_site: SiteServer, api: Api) -> None:
    for i in range(23):
        api.insert({"doctype": "ToDo", "description": f"task {i:02d}", "status": "Closed" if i % 5 == 0 else "Open"})
    page1 = admin_desk.get("/app/todo").text
    assert "1–20 of 23" in text_of(page1) and 'id="next-page"' in page1
    page2 = admin_desk.get("/app/todo?page=2").text
    assert "21–23 of 23" in text_of(page2) and 'id="prev-page"' in page2
    closed = admin_desk.get("/app/todo?status=Closed").text
    assert "1–5 of 5" in text_of(closed)
    assert "Closed" in closed and 'data-name=' in closed
    ordered = admin_desk.get("/app/todo?order_by=description+asc&page_length=100").text
    descriptions = re.findall(r"task (\d\d)", text_of(ordered))
    assert descriptions == sorted(descriptions) and len(descriptions) == 23
    assert admin_desk.get("/app/todo?description=task+07").text.count("data-name=") == 1


def test_list_shows_status_indicators(admin_desk: Desk) -> None:
    page = admin_desk.get("/app/todo?status=Closed").text
    assert '<span class="indicator-pill green">Closed</span>' in page


@pytest.fixture(scope="module")
def clerk(desk_site: SiteServer) -> Iterator[Desk]:
    desk_site.cli("user", "add", "clerk@example.com", "--password", "clerk-pw", "--roles", "Sales User")
    desk = Desk(desk_site.url)
    assert desk.login("clerk@example.com", "clerk-pw").status_code == 303
    yield desk
    desk.close()


def test_a_user_without_permission_sees_no_data(clerk: Desk, desk_site: SiteServer, api: Api) -> None:
    api.insert({"doctype": "Company", "company_name": "Secret Holdings", "abbr": "ZQX9"})
    home = clerk.get("/app").text
    assert 'id="event-streaming"' not in home and "/app/event-producer" not in home
    assert 'href="/app/customer"' in home
    for path in ("/app/event-producer", "/app/company", "/app/user/Administrator", "/app/company/Secret%20Holdings",
                 "/app/event-sync-log/new"):
        r = clerk.get(path)
        assert r.status_code == 403, path
        assert "has no read permission" in text_of(r.text) or "has no create permission" in text_of(r.text)
        assert "ZQX9" not in r.text
    assert clerk.get("/app/_lookup", params={"target": "Company", "input": "x", "x": ""}).text.strip() == ""
    dashboard = clerk.get("/app/event-streaming")
    assert dashboard.status_code == 200 and "has no read permission" in text_of(dashboard.text)


def test_a_read_only_user_gets_no_save_button(clerk: Desk, desk_site: SiteServer, api: Api) -> None:
    api.insert({"doctype": "Item", "item_code": "READONLY-1"})
    page = clerk.get("/app/item/READONLY-1").text
    assert 'id="btn-save"' not in page and 'id="btn-delete"' not in page and ' name="item_name"' not in page
    r = clerk.post("/app/item/READONLY-1", {"item_name": "changed"})
    assert r.status_code == 403


def test_a_bad_sort_falls_back_with_a_message(admin_desk: Desk) -> None:
    r = admin_desk.get("/app/todo?order_by=nonsense+desc")
    assert r.status_code == 200 and "can't sort ToDo" in text_of(r.text)


def test_a_typed_secret_is_not_sent_back_with_an_error(admin_desk: Desk) -> None:
    r = admin_desk.post("/app/event-producer/new", {"producer_url": "http://127.0.0.1:9/", "api_secret": "typed-secret-1"})
    assert r.status_code == 417
    assert "typed-secret-1" not in r.text
    control = re.search(r'data-fieldname="api_secret".*?</div>\s*</div>', r.text, re.S).group(0)
    assert "Type it again" in control and "(set:" not in control
