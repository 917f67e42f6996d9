"""What a request costs before its own work, on PostgreSQL (where each statement is a round trip):
one statement finds the caller from its key or cookie, with its roles and the DocTypes' version.
Counted at the site's database, as tests/streaming/test_round_trips.py counts writes."""

from __future__ import annotations

import pytest

from docstream.api.authentication import AuthenticationMiddleware
from docstream.auth.sessions import create_session
from docstream.auth.users import add_user, generate_keys
from docstream.errors import AuthenticationError
from docstream.site import Site
from tests.conftest import new_pg_url
from tests.support.roundtrips import RoundTrips


@pytest.fixture
def pg_site(make_site, postgres):
    return make_site(db_url=new_pg_url())


@pytest.mark.postgres
def test_a_caller_is_found_with_its_roles_and_the_doctypes_in_one_round_trip(pg_site: Site, sites_dir) -> None:
    admin = pg_site.session()
    add_user(admin, "clerk@example.com", None, ["Sales User"])
    keys = generate_keys(admin, "clerk@example.com")
    todo = admin.insert({"doctype": "ToDo", "description": "read by the clerk"})["name"]
    sid = create_session(pg_site, "clerk@example.com")
    middleware = AuthenticationMiddleware(None, pg_site)  # type: ignore[arg-type]

    for authorization, cookie in ((f"token {keys['api_key']}:{keys['api_secret']}", None), (None, sid)):
        trips = RoundTrips(pg_site.db)
        session = middleware._session(authorization, cookie)
        assert session.user == "clerk@example.com" and "Sales User" in session.roles
        assert session.get("ToDo", todo)["description"] == "read by the clerk"
        assert len(trips.trips) == 2, trips.trips  # who, with roles and DocTypes; then the ToDo itself
        trips.stop()

    # what was read with the caller is what the next request reads: a role taken away, a field added
    # by another process, a key revoked
    other = Site.open(pg_site.name, sites_dir)
    try:
        o = other.session()
        clerk = o.get("User", "clerk@example.com")
        o.update("User", "clerk@example.com", {"roles": [r for r in clerk["roles"] if r["role"] != "Sales User"]})
        o.insert({"doctype": "Custom Field", "dt": "ToDo", "fieldname": "aisle", "fieldtype": "Data", "label": "Aisle"})
        next_request = middleware._session(f"token {keys['api_key']}:{keys['api_secret']}", None)
        assert "Sales User" not in next_request.roles
        assert next_request.meta("ToDo").has_field("aisle")
        o.update("User", "clerk@example.com", {"enabled": 0})
    finally:
        other.close()
    with pytest.raises(AuthenticationError):
        middleware._session(f"token {keys['api_key']}:{keys['api_secret']}", None)
    assert middleware._session(None, sid).user == "Guest"  # a disabled user's cookie is no one's
