"""Login and logout as methods: ``/api/method/login`` (or ``POST /`` with ``cmd=login``) and
``logout``. The login itself (password check, session) lives in ``docstream.auth.sessions``,
shared with the web desk."""

from __future__ import annotations

from typing import Any

from docstream.api.methods import Reply, whitelist
from docstream.auth import sessions
from docstream.model.documents import Session

HOME_PAGE = "/app"
_LOGIN_COOKIES = ("sid", "user_id", "full_name", "system_user")


def login_reply(login: sessions.Login) -> Reply:
    """Frappe's answer to a login, with its cookies (``sid`` is HttpOnly)."""
    return Reply(
        "Logged In",
        extra={"home_page": HOME_PAGE, "full_name": login.full_name},
        cookies={"sid": login.sid, "user_id": login.user, "full_name": login.full_name, "system_user": "yes"},
    )


@whitelist("login", allow_guest=True, methods=("POST",))
def login(session: Session, usr: Any = None, pwd: Any = None, device: Any = None) -> Reply:
    """Log in with ``usr`` (name or email) and ``pwd``; answers with a ``sid`` cookie."""
    return login_reply(sessions.login(session.site, usr, pwd))


@whitelist("logout", allow_guest=True, methods=("GET", "POST"))
def logout(session: Session) -> Reply:
    """End the current login session and clear its cookies."""
    sessions.delete_session(session.site, session.flags.get("sid"))
    return Reply("Logged Out", cookies={name: None for name in _LOGIN_COOKIES})
