"""Rate limits on the doors that guessers knock on: login (per address and per username) and registration.

Counters live in RATELIMIT_STORAGE_URI (memory:// by default, Redis in production so that every app
server shares them). With RATELIMIT_IN_MEMORY_FALLBACK_ENABLED a dead Redis makes each process count
on its own until Redis answers again, instead of failing the request (no fail-open, no 500).
The client address is request.remote_addr, which ProxyFix (PROXY_FIX_HOPS) sets from X-Forwarded-For.
"""

from flask import Flask, current_app, jsonify, request
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address

from app.extensions import limiter


def init_limiter(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, too_many_requests)


def too_many_requests(error: RateLimitExceeded):
    """429 in the API's error shape, with the limit's message; Retry-After is added by the limiter."""
    from app.errors import error_body, html_error, wants_json

    if wants_json():
        response = jsonify(error_body(429, error.description))
        response.status_code = 429
        return response
    return html_error(429, error.description)


def login_rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def register_rate_limit() -> str:
    return current_app.config["REGISTER_RATE_LIMIT"]


def username_key() -> str:
    """The username being tried (JSON body or form), case-folded like the accounts' username_key."""
    body = request.get_json(silent=True) if request.is_json else None
    name = body.get("username") if isinstance(body, dict) else request.form.get("username")
    if not isinstance(name, str) or not name.strip():
        return f"no-username:{get_remote_address()}"
    return f"username:{name.strip().lower()[:200]}"


TOO_MANY_LOGINS = "Too many sign-in attempts; wait a minute and try again"
TOO_MANY_ACCOUNTS = "Too many accounts created from this address; wait a minute and try again"

# Shared by the API and the web forms (same scopes, so one counter per client across both). Only
# submissions count: the web pages also answer GET with the empty form.
# Stack both login limits on a login view: a guesser is slowed per address and a distributed guesser per account.
login_limit_per_address = limiter.limit(
    login_rate_limit, key_func=get_remote_address, scope="login-address", methods=["POST"],
    error_message=TOO_MANY_LOGINS,
)
login_limit_per_username = limiter.limit(
    login_rate_limit, key_func=username_key, scope="login-username", methods=["POST"],
    error_message=TOO_MANY_LOGINS,
)
registration_limit = limiter.limit(
    register_rate_limit, key_func=get_remote_address, scope="register-address", methods=["POST"],
    error_message=TOO_MANY_ACCOUNTS,
)
