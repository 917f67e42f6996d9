"""The user guide, clicked through in a real browser between two real sites.

Every step is done in the desk, as the guide tells a person to do it: the Event Subscriber on
both sites, its keys, the Event Producer, the approval, a document streaming over, both logs,
and a failed event resynced. Plus: an XSS attempt stays text, and a user without permission
sees no data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.servers import SiteServer
from tests.ui.browser import Tab, browser_fixture, publish

pytestmark = pytest.mark.browser

SUBSCRIBER = "sync@example.com"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from browser_fixture()


@pytest.fixture
def tabs(browser: Any) -> Iterator[Any]:
    opened: list[Tab] = []

    def open_tab(site: SiteServer, usr: str = "Administrator", pwd: str = "admin") -> Tab:
        tab = Tab(browser, site.url).login(usr, pwd)
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        assert not tab.errors, tab.errors
        tab.close()


# -- steps of the guide ------------------------------------------------------
def create_subscriber(tab: Tab, role: str) -> None:
    """User list → + Add User: the Event Subscriber, with a role that may write the synced DocTypes."""
    tab.goto("/app/user")
    tab.click("#btn-new")
    tab.page.fill("#field-email", SUBSCRIBER)
    tab.page.fill("#field-first_name", "Sync")
    role_input = tab.add_row("roles").locator("input[name$='.role']")
    role_input.fill(role[:4])  # the Link field suggests matching roles
    tab.page.locator(f"datalist option[value='{role}']").wait_for(state="attached")
    role_input.fill(role)
    tab.click("#btn-save")
    assert "Saved" in tab.text("#flash")


def generate_keys(tab: Tab, shot: str) -> dict[str, str]:
    """User form → API Access → Generate Keys; the secret shows once, with a copy button."""
    tab.goto("/app/user/" + quote(SUBSCRIBER, safe=""))
    tab.click("#btn-generate-keys")
    keys = {"api_key": tab.text("#api-key").strip(), "api_secret": tab.text("#api-secret").strip()}
    tab.page.click("[data-copy=api-secret]")
    tab.page.locator("[data-copy=api-secret]", has_text="Copied").wait_for()
    tab.shot(shot)
    assert re.fullmatch(r"[0-9a-f]{32}", keys["api_secret"]), keys
    tab.goto("/app/user/" + quote(SUBSCRIBER, safe=""))
    assert keys["api_secret"] not in tab.page.content()
    return keys


def fill_event_producer(tab: Tab, producer_url: str, keys: dict[str, str], doctype: str) -> None:
    tab.goto("/app")
    tab.click("#event-streaming a[href='/app/event-producer']")
    tab.click("#btn-new")
    tab.page.fill("#field-producer_url", producer_url)
    tab.page.fill("#field-user", SUBSCRIBER)
    tab.page.fill("#field-api_key", keys["api_key"])
    tab.page.fill("#field-api_secret", keys["api_secret"])
    row = tab.add_row("producer_doctypes")
    row.locator("input[name$='.ref_doctype']").fill(doctype)
    row.locator("input[type=checkbox][name$='.use_same_name']").check()


def approve(tab: Tab, consumer_url: str, doctype: str) -> None:
    """Event Consumer list → the consumer → its row's status Pending → Approved → Save."""
    tab.goto("/app/event-consumer")
    assert f"{doctype}: Pending" in tab.text("#list")
    tab.click(f"#list a[href='/app/event-consumer/{quote(consumer_url, safe='')}']")
    row = tab.page.locator("#grid-consumer_doctypes tr.grid-row", has_text="")
    status = row.locator("select[name$='.status']").first
    assert status.input_value() == "Pending"
    status.select_option("Approved")
    assert "green" in (status.get_attribute("class") or "")
    tab.shot("04-producer-event-consumer-approved")
    tab.click("#btn-save")
    assert "Saved" in tab.text("#flash")


def set_subscriber_role(tab: Tab, role: str | None) -> None:
    """On the consumer: take the subscriber's role away (an event will fail), or give it back."""
    tab.goto("/app/user/" + quote(SUBSCRIBER, safe=""))
    if role is None:
        tab.page.click("#grid-roles tr.grid-row [data-remove-row]")
        assert tab.page.locator("#grid-roles tr.grid-row").count() == 0
    else:
        tab.add_row("roles").locator("input[name$='.role']").fill(role)
    tab.click("#btn-save")
    assert "Saved" in tab.text("#flash")


def create_customer(tab: Tab, name: str) -> None:
    tab.goto("/app/customer/new")
    tab.page.fill("#field-customer_name", name)
    tab.click("#btn-save")
    assert "Saved" in tab.text("#flash")


def failed_log(tab: Tab, docname: str) -> str:
    """Event Sync Log filtered to Failed, until the event of ``docname`` shows; its URL."""
    def find() -> str | None:
        link = tab.page.locator("#list td.name-cell a").first
        return link.get_attribute("href") if link.count() else None

    path = "/app/event-sync-log?status=Failed&producer_doc=" + quote(docname)
    return tab.reload_until(path, find, what=f"a failed event for {docname}")


# -- the walk-through --------------------------------------------------------
def test_the_user_guide_in_a_browser(serve: Any, tabs: Any) -> None:
    hq, store = serve("hq.local"), serve("store.local")
    producer, consumer = tabs(hq), tabs(store)

    # 1. the Event Subscriber on both sites, with keys
    producer.shot("00-producer-home")
    create_subscriber(producer, "Sales User")
    create_subscriber(consumer, "Sales User")
    producer_keys = generate_keys(producer, "01-producer-user-generate-keys")
    generate_keys(consumer, "02-consumer-user-generate-keys")

    # 2. on the consumer, an Event Producer: first with a wrong secret (a clear error), then right
    fill_event_producer(consumer, hq.url, {**producer_keys, "api_secret": "0" * 32}, "Customer")
    consumer.click("#btn-save")
    error = consumer.text("#form-error")
    assert "Could not save" in error and len(error) > 30, error
    consumer.shot("03a-consumer-event-producer-registration-error")
    consumer.page.fill("#field-api_secret", producer_keys["api_secret"])
    consumer.click("#btn-save")
    assert "Saved" in consumer.text("#flash"), consumer.text()
    assert "Pending" in consumer.text("#grid-producer_doctypes")
    assert consumer.page.locator("#grid-producer_doctypes .indicator-pill.orange").count() == 1
    publish(consumer.shot("03-consumer-event-producer"), "event-producer.png")

    # 3. on the producer, approve the Event Consumer that registration created
    approve(producer, store.url, "Customer")
    producer_form = "/app/event-producer/" + quote(hq.url, safe="")
    consumer.reload_until(producer_form, lambda: "Approved" in consumer.text("#grid-producer_doctypes"),
                          what="the approval mirrored to the consumer")
    assert consumer.page.locator("#grid-producer_doctypes .indicator-pill.green").count() == 1

    # 3b. editing the Event Producer (its secret left as it is): a new row starts Pending on the producer
    consumer.add_row("producer_doctypes").locator("input[name$='.ref_doctype']").fill("Item")
    consumer.click("#btn-save")
    assert "Saved" in consumer.text("#flash"), consumer.text()
    producer.reload_until("/app/event-consumer", lambda: "Item: Pending" in producer.text("#list"),
                          what="the new row on the producer")
    assert "Customer: Approved" in producer.text("#list")

    # 4. a document created on the producer arrives on the consumer
    create_customer(producer, "Acme Corp")
    consumer.reload_until("/app/customer", lambda: "Acme Corp" in consumer.text("#list"), what="Acme Corp on the consumer")
    consumer.shot("05-consumer-customer-arrived")

    # 5. both logs
    producer.goto("/app/event-update-log")
    assert re.search(r"Create.*Customer.*Acme Corp", producer.text("#list"), re.S), producer.text("#list")
    producer.shot("06-producer-event-update-log")
    consumer.goto("/app/event-sync-log")
    assert "Synced" in consumer.text("#list") and "Customer" in consumer.text("#list")
    consumer.shot("07-consumer-event-sync-log")

    # 6. break an event, see it Failed with its error, fix the cause, Resync
    set_subscriber_role(consumer, None)
    create_customer(producer, "Broken Ltd")
    consumer.goto(failed_log(consumer, "Broken Ltd"))
    assert "Failed" in consumer.text("h1") and "permission" in consumer.text().lower()
    consumer.shot("08-consumer-failed-event")
    set_subscriber_role(consumer, "Sales User")
    consumer.goto(failed_log(consumer, "Broken Ltd"))
    consumer.click("#btn-resync")
    assert "Synced" in consumer.text("#flash") and "Synced" in consumer.text("h1")
    consumer.goto("/app/customer")
    assert "Broken Ltd" in consumer.text("#list")

    # 7. again, with Resync all failed on the list
    set_subscriber_role(consumer, None)
    create_customer(producer, "Broken Twice")
    failed_log(consumer, "Broken Twice")
    set_subscriber_role(consumer, "Sales User")
    consumer.goto("/app/event-sync-log?status=Failed")
    consumer.click("#btn-resync-all")
    assert "1 synced, 0 still failed" in consumer.text("#flash"), consumer.text("#flash")
    consumer.goto("/app/customer")
    assert "Broken Twice" in consumer.text("#list")

    # 8. the sync dashboards
    consumer.goto("/app")
    consumer.click("#link-dashboard")
    producers = consumer.text("#producers")
    assert hq.url in producers, producers
    publish(consumer.shot("09-consumer-sync-dashboard"), "sync-dashboard.png")
    producer.goto("/app/event-streaming")
    assert store.url in producer.text("#consumers") and "Customer: Approved" in producer.text("#consumers")
    assert producer.page.locator("#charts svg rect").count() > 0
    producer.shot("10-producer-sync-dashboard")


def test_an_xss_attempt_stays_inert(serve: Any, tabs: Any) -> None:
    site = serve("xss.local")
    tab = tabs(site)
    attack = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    tab.goto("/app/note/new")
    tab.page.fill("#field-title", attack)
    tab.page.fill("#field-content", attack)
    tab.click("#btn-save")
    assert tab.text("#doc-title") == attack
    tab.goto("/app/note")
    assert attack in tab.text("#list")
    tab.page.wait_for_timeout(300)
    assert tab.dialogs == []
    assert tab.page.locator("#list img").count() == 0 and tab.page.locator("#list script").count() == 0
    tab.shot("11-xss-stays-text")


def test_a_user_without_permission_sees_no_data(serve: Any, tabs: Any) -> None:
    site = serve("perm.local")
    site.cli("user", "add", "clerk@example.com", "--password", "clerk-pw", "--roles", "Sales User")
    admin = tabs(site)
    create_customer(admin, "Visible Customer")
    admin.goto("/app/company/new")
    admin.page.fill("#field-company_name", "Hidden Company Ltd")
    admin.click("#btn-save")

    clerk = tabs(site, "clerk@example.com", "clerk-pw")
    home = clerk.text("main")
    assert "Event Streaming" not in home and "Company" not in home
    clerk.goto("/app/company")
    assert "403" in clerk.text(".error-code") and "no read permission" in clerk.text(".error-message")
    assert "Hidden Company" not in clerk.page.content()
    clerk.shot("12-no-permission")
    clerk.goto("/app/event-sync-log")
    assert "no read permission" in clerk.text(".error-message")
    clerk.goto("/app/customer")
    assert "Visible Customer" in clerk.text("#list")
    clerk.click("#logout")
    assert clerk.page.url.startswith(site.url + "/login")
    clerk.goto("/app/customer")
    assert "/login" in clerk.page.url and "Visible Customer" not in clerk.page.content()
