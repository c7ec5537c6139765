"""Rate limits on the doors that guessers knock on: every password check and registration.

One budget per client address and one per account, whichever door is used: a wrong password on the API's
login, on the web login form or in an API password change (`currentPassword`) all count against the same
two counters, and an API or web registration against the same per-address counter. Flask-Limiter's
`shared_limit` keys a counter by its scope and key only; `limit(scope=...)` would add each endpoint and
so give every door a budget of its own.

Counters live in RATELIMIT_STORAGE_URI (memory:// by default, Redis in production so that every app
server shares them). With RATELIMIT_IN_MEMORY_FALLBACK_ENABLED a dead Redis makes each process count
on its own until Redis answers again, instead of failing the request (no fail-open, no 500).
The client address is request.remote_addr, which ProxyFix (PROXY_FIX_HOPS) sets from X-Forwarded-For.
"""

import time

from flask import Flask, current_app, jsonify, make_response, request
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address

from app.extensions import limiter
from app.jsonbody import json_body_or_none
from app.services import users


def init_limiter(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, too_many_requests)


def too_many_requests(error: RateLimitExceeded):
    """429 in the API's error shape, with the limit's message and Retry-After: the seconds until the breached
    limit's window resets."""
    from app.errors import error_body, html_error, wants_json

    if wants_json():
        response = jsonify(error_body(429, error.description))
        response.status_code = 429
    else:
        response = make_response(html_error(429, error.description))
    breached = limiter.current_limit
    wait = int(breached.reset_at - time.time()) if breached else 1  # reset_at is already rounded up
    response.headers["Retry-After"] = str(max(1, wait))
    return response


def login_rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def register_rate_limit() -> str:
    return current_app.config["REGISTER_RATE_LIMIT"]


def _account(username_key: str) -> str:
    return f"username:{username_key[:200]}"


def username_key() -> str:
    """The account a login tries (JSON body or form), case-folded like the accounts' username_key. Only
    read from a body that parses: anything else is refused by the form or the body parser afterwards."""
    body = json_body_or_none(request)
    name = body.get("username") if isinstance(body, dict) else request.form.get("username")
    if not isinstance(name, str) or not name.strip():
        return f"no-username:{get_remote_address()}"
    return _account(name.strip().lower())


def account_in_path_key() -> str:
    """The account whose password a password change checks (the <user_id> in the path): the same counter as
    that account's logins."""
    user_id = (request.view_args or {}).get("user_id")
    key = users.username_key_of(user_id) if isinstance(user_id, int) else None
    return _account(key) if key else f"no-account:{get_remote_address()}"


TOO_MANY_LOGINS = "Too many sign-in attempts; wait a minute and try again"
TOO_MANY_PASSWORD_CHECKS = "Too many password attempts; wait a minute and try again"
TOO_MANY_ACCOUNTS = "Too many accounts created from this address; wait a minute and try again"
PASSWORD_CHECKS_PER_ADDRESS = "password-checks-address"
PASSWORD_CHECKS_PER_ACCOUNT = "password-checks-account"


def _shared(limit_value, scope, key_func, method, message):
    return limiter.shared_limit(limit_value, scope, key_func=key_func, methods=[method], error_message=message)


# Stack both on every view that checks a password: a guesser is slowed per address, a distributed guesser
# per account. Only submissions count: the web pages also answer GET with the empty form.
login_limit_per_address = _shared(login_rate_limit, PASSWORD_CHECKS_PER_ADDRESS, get_remote_address, "POST",
                                  TOO_MANY_LOGINS)
login_limit_per_username = _shared(login_rate_limit, PASSWORD_CHECKS_PER_ACCOUNT, username_key, "POST",
                                   TOO_MANY_LOGINS)
# Put these inside the token check: only a signed-in request reaches the password it names.
password_change_limit_per_address = _shared(login_rate_limit, PASSWORD_CHECKS_PER_ADDRESS, get_remote_address,
                                            "PATCH", TOO_MANY_PASSWORD_CHECKS)
password_change_limit_per_account = _shared(login_rate_limit, PASSWORD_CHECKS_PER_ACCOUNT, account_in_path_key,
                                            "PATCH", TOO_MANY_PASSWORD_CHECKS)
registration_limit = _shared(register_rate_limit, "registrations-address", get_remote_address, "POST",
                             TOO_MANY_ACCOUNTS)
