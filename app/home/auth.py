"""Browser sessions are rows of the same registry as API tokens.

The Flask session cookie holds only the session token; every request checks it against the
registry, so ending the session anywhere (an API logout/all included) signs the browser out.
"""

import functools
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import UserMixin, current_user, login_required, login_url

from app.extensions import login_manager
from app.home import resume
from app.logs import note_user
from app.services import policy, sessions
from app.services.errors import Unauthorized
from app.services.policy import Actor

TOKEN_KEY = "auth_token"
# Set in the WSGI environ (this request only) when load_user finds the browser's session ended and says so.
SESSION_ENDED_HERE = "vending.session_ended"
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
        resume.session_ended(int(user_id))
        request.environ[SESSION_ENDED_HERE] = True
        flash(error.message, "warning")
        return None
    if str(actor.id) != user_id:
        forget_browser_session()
        return None
    note_user(actor.id)
    return WebUser(actor, account.username)


def start_browser_session(result: sessions.LoginResult) -> None:
    from flask_login import login_user

    kept = resume.carried_over(result.user.id)
    session.clear()
    resume.put_back(kept)
    session[TOKEN_KEY] = result.token
    login_user(WebUser(Actor(result.user.id, result.user.role, result.session_id), result.user.username))


def forget_browser_session() -> None:
    for key in (TOKEN_KEY, "_user_id", "_fresh", "_id", "last_result"):
        session.pop(key, None)
    resume.forget()


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


def safe_next(target: str | None, default: str = "home.catalogue") -> str:
    """Only a page of this site that answers GET (the login redirects there): never another host, never a
    scheme-relative URL, never a URL that takes form posts only, nor the JSON API; else the `default` page."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") \
                and "\\" not in target and not parts.path.startswith("/api/") \
                and current_app.create_url_adapter(request).test(parts.path, method="GET"):
            return target
    return url_for(default)


def this_page() -> str:
    """This request's path with its query string, if any."""
    return request.full_path if request.query_string else request.path


def return_page() -> str:
    """The page to come back to after logging in. For a page asked for, that page; for a form sent (POST, with
    or without the machine page's script), the page the form is on, which the browser names in Referer (sent for
    this site's own requests under our Referrer-Policy), or the form's own URL when it answers GET. Without
    either, the account's start page."""
    here = this_page()
    if request.method == "GET":
        return safe_next(here, default="home.dashboard")
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.path:
        here = referrer.path + (f"?{referrer.query}" if referrer.query else "")
    return safe_next(here, default="home.dashboard")


def login_link(page: str | None = None) -> str:
    """The login page, which brings the visitor back to `page` (a page that answers GET) afterwards."""
    return login_url("home.login", next_url=page or return_page())


@login_manager.unauthorized_handler
def ask_to_log_in():
    """Flask-Login's answer to a visitor who must log in: the login page, which comes back to the page they were
    on, never to a URL that takes form posts only (Flask-Login's own would name the POST's URL: a 405 after
    logging in). A form sent after the session ended is kept for afterwards (app.home.resume). One message:
    none more when load_user has just said that the session ended, else why the login is asked for."""
    if request.method == "POST":
        resume.keep_form()
    if resume.ended_user() is not None:
        if not request.environ.get(SESSION_ENDED_HERE):
            flash(sessions.SESSION_ENDED, "warning")
    else:
        message = login_manager.login_message
        if login_manager.localize_callback is not None:
            message = login_manager.localize_callback(message)
        flash(message, login_manager.login_message_category)
    return redirect(login_link())
