"""Rate limits on the doors that guessers knock on (every password check, registration) and on picture uploads,
built so that nobody can turn them against the account they protect.

Password checks: a password on the API's login, on the web login form and the `currentPassword` of an API
password change (PATCH /users/<id>) all count against the same budgets (Flask-Limiter's `shared_limit` keys a
counter by its scope and key only; `limit(scope=...)` would give every door a budget of its own). The design
follows OWASP's Authentication Cheat Sheet ("Account Lockout": the counter belongs to the account, or many
addresses guess freely, but a lockout anyone can trigger is a denial of service of its own) and OWASP's "Slow Down
Online Guessing Attacks with Device Cookies": a client that signed in to the account before keeps a budget of its
own, and only the others share the account's. Here the client is its address, as NIST SP 800-63B 5.2.2 suggests
(accept attempts from addresses the subscriber authenticated from before):

1. Per client address, LOGIN_RATE_LIMIT (10 a minute): every password check made from the address, right or
   wrong, for any account. It slows one guesser trying many accounts, and stops no other address.
2. Per account, ACCOUNT_RATE_LIMIT (30 a minute): wrong passwords for the account from addresses that have not
   signed in to it lately (a sign-in marks its address for TRUSTED_FOR_DAYS, 30). It caps a guesser spread over
   many addresses, and refuses only such addresses: the owner, signing in from an address they used before, is
   never refused by it, however many addresses guess. Set above the per-address budget (three times, by
   default), it cannot be spent from one address, so a guesser there does not even slow the owner's new
   addresses. What is left: while guessers on several addresses keep it spent, a sign-in from an address new to
   the account waits for the next window (429 with Retry-After), as OWASP's design leaves devices without a cookie.
3. A check the caller has no right to make spends nothing and reads nothing: someone else's password change is
   a 403 before any budget (app.api.v1.security.own_account_or_admin). The budgets are read before the check (a
   spent one is a 429 before argon2 runs) and spent after it, by what it found (login_check and
   password_change_check note it in the request's environ): a request refused before the check (a bad body, a
   new password too short, a busy server) spends nothing, and only a wrong password spends the account's
   budget. A right one marks the address for the account. Checks running at once all pass the read before
   either is spent, so a budget can be overrun by as many checks as the servers run at once: the cap on
   expensive work (app.services.expensive) bounds that to its slots.

Accounts are named in the counters' keys by an HMAC of the case-folded username under SECRET_KEY, never by the
name: neither Redis nor a log line (Flask-Limiter logs the key of every limit it refuses) holds what people typed.

Registrations: REGISTER_RATE_LIMIT per address, API and web together. Picture uploads: UPLOAD_RATE_LIMIT per
signed-in user, API and web together (decoding is bounded by app.services.expensive; this bounds how often).

Counters live in RATELIMIT_STORAGE_URI (memory:// by default, Redis in production so that every app server
shares them, trusted addresses included). With RATELIMIT_IN_MEMORY_FALLBACK_ENABLED a dead Redis makes each
process count on its own until Redis answers again, instead of failing the request (no fail-open, no 500); the
addresses trusted in Redis are not known meanwhile, so their owners are treated like new addresses.
The client address is request.remote_addr, which ProxyFix (PROXY_FIX_HOPS) sets from X-Forwarded-For.
"""

import hashlib
import hmac
import logging
import time
from contextlib import contextmanager

from flask import Flask, current_app, g, jsonify, make_response, request
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user
from limits import RateLimitItemPerDay

from app.extensions import limiter
from app.jsonbody import json_body_or_none
from app.services import users, wording
from app.services.errors import FAILED_PASSWORD_CHECKS

log = logging.getLogger(__name__)

TRUSTED_FOR_DAYS = 30
# A sign-in marks (account, address) with a counter of this item: once hit, `test` says no more fit, which is
# "trusted". The strategy (limiter.limiter) is the documented way to the storage that also follows the
# in-memory fallback.
TRUSTED = RateLimitItemPerDay(1, TRUSTED_FOR_DAYS)

CHECKED = "vending.password_check"  # request.environ: what the request's password check found
RIGHT, WRONG = "right", "wrong"

WAIT = "{wait}"
TOO_MANY_LOGINS = f"Too many sign-in attempts; wait {WAIT} and try again"
TOO_MANY_PASSWORD_CHECKS = f"Too many password attempts; wait {WAIT} and try again"
TOO_MANY_ACCOUNTS = f"Too many accounts created from this address; wait {WAIT} and try again"
TOO_MANY_UPLOADS = f"Too many pictures uploaded; wait {WAIT} and try again"
PASSWORD_CHECKS_PER_ADDRESS = "password-checks-address"
FAILED_CHECKS_PER_ACCOUNT = "password-failures-account"
UPLOADS_PER_USER = "uploads-user"


def init_limiter(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, too_many_requests)


def too_many_requests(error: RateLimitExceeded):
    """429 in the API's error shape, with Retry-After: the seconds until the breached limit's window resets,
    which the message says too ("wait 42 seconds")."""
    from app.errors import error_body, html_error, wants_json

    breached = limiter.current_limit
    wait = max(1, int(breached.reset_at - time.time())) if breached else 1  # reset_at is already rounded up
    message = (error.description or "").replace(WAIT, wording.wait(wait))
    if wants_json():
        response = jsonify(error_body(429, message))
        response.status_code = 429
    else:
        response = make_response(html_error(429, message))
    response.headers["Retry-After"] = str(wait)
    return response


def login_rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def account_rate_limit() -> str:
    return current_app.config["ACCOUNT_RATE_LIMIT"]


def register_rate_limit() -> str:
    return current_app.config["REGISTER_RATE_LIMIT"]


def upload_rate_limit() -> str:
    return current_app.config["UPLOAD_RATE_LIMIT"]


def account_key(username_key: str) -> str:
    """The account's name in counters' keys: keyed, so that neither the store nor a log line shows it."""
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), username_key.encode(), hashlib.sha256)
    return f"account:{digest.hexdigest()[:32]}"


def username_key() -> str:
    """The account a login tries (JSON body or form), case-folded like the accounts' username_key. Only
    read from a body that parses: anything else is refused by the form or the body parser afterwards."""
    body = json_body_or_none(request)
    name = body.get("username") if isinstance(body, dict) else request.form.get("username")
    if not isinstance(name, str) or not name.strip():
        return f"no-username:{get_remote_address()}"
    return account_key(name.strip().lower()[:200])


def account_in_path_key() -> str:
    """The account whose password a password change checks (the <user_id> in the path): the same counter as
    that account's logins."""
    user_id = (request.view_args or {}).get("user_id")
    key = users.username_key_of(user_id) if isinstance(user_id, int) else None
    return account_key(key) if key else f"no-account:{get_remote_address()}"


def _trust_key(account: str) -> tuple[str, ...]:
    return current_app.config["RATELIMIT_KEY_PREFIX"], "trusted-address", account, get_remote_address()


def _address_trusted(key_func) -> bool:
    """Did this address sign in to the account lately? Errors of the store reach Flask-Limiter, which then
    falls back to its in-memory counters."""
    account = key_func()
    return account.startswith("account:") and not limiter.limiter.test(TRUSTED, *_trust_key(account))


def _trust_address(account: str) -> None:
    try:
        limiter.limiter.hit(TRUSTED, *_trust_key(account))
    except Exception as error:  # the store is down: the owner is treated as a new address until it is back
        log.warning("trusted sign-in address not recorded: %s", error.__class__.__name__)


def _checked(_response) -> bool:
    return request.environ.get(CHECKED) is not None


def _failed(_response) -> bool:
    return request.environ.get(CHECKED) == WRONG


@contextmanager
def _password_check(key_func):
    """Around the call that checks a password: notes what it found for the budgets' deductions, and trusts
    the address for the account when the password was right."""
    try:
        yield
    except FAILED_PASSWORD_CHECKS:
        request.environ[CHECKED] = WRONG
        raise
    request.environ[CHECKED] = RIGHT
    if limiter.enabled:
        _trust_address(key_func())


def login_check():
    """`with login_check(): sessions.login(...)` in every login view."""
    return _password_check(username_key)


def password_change_check():
    """`with password_change_check(): users.change_password(...)` in every password-change view."""
    return _password_check(account_in_path_key)


def api_user_key() -> str:
    """The user the API's token check (auth_required, outside this limit) found."""
    return f"user:{g.actor.id}"


def web_user_key() -> str:
    """The user Flask-Login signed in (role_required, outside this limit): the same key as api_user_key."""
    return f"user:{current_user.id}"


def _per_address(method: str, message: str):
    return limiter.shared_limit(login_rate_limit, PASSWORD_CHECKS_PER_ADDRESS, key_func=get_remote_address,
                                methods=[method], error_message=message, deduct_when=_checked)


def _per_account(method: str, message: str, key_func):
    return limiter.shared_limit(account_rate_limit, FAILED_CHECKS_PER_ACCOUNT, key_func=key_func,
                                methods=[method], error_message=message, deduct_when=_failed,
                                exempt_when=lambda: _address_trusted(key_func))


# Stack both on every view that checks a password, and wrap its check in login_check / password_change_check.
# Only submissions count: the web pages also answer GET with the empty form.
login_limit_per_address = _per_address("POST", TOO_MANY_LOGINS)
login_limit_per_username = _per_account("POST", TOO_MANY_LOGINS, username_key)
# Put these inside the token check and the authorization: only a request allowed to make the check reaches them.
password_change_limit_per_address = _per_address("PATCH", TOO_MANY_PASSWORD_CHECKS)
password_change_limit_per_account = _per_account("PATCH", TOO_MANY_PASSWORD_CHECKS, account_in_path_key)
registration_limit = limiter.shared_limit(register_rate_limit, "registrations-address", key_func=get_remote_address,
                                          methods=["POST"], error_message=TOO_MANY_ACCOUNTS)
# Inside the token check (API) or the role check (web), on the upload itself.
upload_limit_api = limiter.shared_limit(upload_rate_limit, UPLOADS_PER_USER, key_func=api_user_key,
                                        methods=["PUT"], error_message=TOO_MANY_UPLOADS)
upload_limit_web = limiter.shared_limit(upload_rate_limit, UPLOADS_PER_USER, key_func=web_user_key,
                                        methods=["POST"], error_message=TOO_MANY_UPLOADS)
