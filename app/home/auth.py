"""Browser sessions are rows of the same registry as API tokens.

The Flask session cookie holds only the session token; every request checks it against the
registry, so ending the session anywhere (an API logout/all included) signs the browser out.
"""

import functools
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, flash, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import UserMixin, current_user, login_required

from app.extensions import login_manager
from app.logs import note_user
from app.services import policy, sessions
from app.services.errors import Unauthorized
from app.services.policy import Actor

TOKEN_KEY = "auth_token"
# The browser's time zone for the pages' times (app.home.locale), set at login and registration.
TIME_ZONE_KEY = "time_zone"


@dataclass
class WebUser(UserMixin):
    actor: Actor
    username: str

    @property
    def id(self) -> int:
        return self.actor.id

    @property
    def role(self) -> str:
        return self.actor.role

    @property
    def session_id(self) -> int | None:
        return self.actor.session_id

    def get_id(self) -> str:
        return str(self.actor.id)


class BrowserSessionInterface(SecureCookieSessionInterface):
    """Cookie sessions for the web pages only: under /api/ a request never reads or sets the cookie
    (the API authenticates with bearer tokens), which also saves verifying its signature."""

    def open_session(self, app, request):
        if request.path.startswith("/api/"):
            return None  # Flask substitutes a NullSession: empty, and it refuses writes
        return super().open_session(app, request)


def init_login_manager(_state=None) -> None:
    login_manager.login_view = "home.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(user_id: str) -> WebUser | None:
    token = session.get(TOKEN_KEY)
    if not token:
        return None
    try:
        actor, account = sessions.authenticate(token)
    except Unauthorized as error:
        forget_browser_session()
        flash(error.message, "warning")
        return None
    if str(actor.id) != user_id:
        forget_browser_session()
        return None
    note_user(actor.id)
    return WebUser(actor, account.username)


def start_browser_session(result: sessions.LoginResult) -> None:
    from flask_login import login_user

    session.clear()
    session[TOKEN_KEY] = result.token
    login_user(WebUser(Actor(result.user.id, result.user.role, result.session_id), result.user.username))


def forget_browser_session() -> None:
    for key in (TOKEN_KEY, "_user_id", "_fresh", "_id", "last_result"):
        session.pop(key, None)


def open_web_session(user_id: int) -> sessions.LoginResult:
    """A browser session for an account whose password was checked a moment ago (registration)."""
    return sessions.open_session(
        user_id,
        kind="web",
        ttl_seconds=current_app.config["AUTH_TOKEN_TTL_SECONDS"],
        idle_seconds=current_app.config["SESSION_IDLE_TIMEOUT_SECONDS"],
        user_agent=request.headers.get("User-Agent"),
        client_address=request.remote_addr,
    )


def web_login(username: str, password: str) -> sessions.LoginResult:
    return sessions.login(
        username,
        password,
        kind="web",
        ttl_seconds=current_app.config["AUTH_TOKEN_TTL_SECONDS"],
        idle_seconds=current_app.config["SESSION_IDLE_TIMEOUT_SECONDS"],
        user_agent=request.headers.get("User-Agent"),
        client_address=request.remote_addr,
    )


def actor() -> Actor:
    return current_user.actor


def role_required(*roles: str):
    """Anonymous visitors go to the login page; signed-in users of another role get a 403 page."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            policy.require_role(actor(), *roles)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def safe_next(target: str | None) -> str:
    """Only a path on this site: never another host, never a scheme-relative URL."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") \
                and "\\" not in target:
            return target
    return url_for("home.catalogue")
