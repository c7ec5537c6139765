"""Security headers on every response.

The Content-Security-Policy allows only the app's own assets. The one exception is Swagger UI's page
(/api/docs/), whose template carries an inline script: that page alone gets script-src with the
sha256 of the inline scripts it actually serves (never 'unsafe-inline' for scripts), plus inline
styles, which Swagger UI's React components set.

Every reply to a signed-in request (a bearer token, or a browser session holding one), and every reply
that hands out a credential, is `Cache-Control: no-store`: balances, orders and user lists must not stay
in a browser's or a proxy's cache after logout, and a token or a session cookie must never be stored where
someone else may be given it. A login request carries no credential, but its reply does: the API login's
body is a bearer token, and the web login and registration set the session cookie (so does any page that
starts a session, for its CSRF token). Public replies (the anonymous catalogue, product pictures) keep their
own caching.

The headers are added by a WSGI middleware, as fixed (name, value) pairs appended to the list the
app hands to the server: setting them one by one on each Flask response cost about a tenth of a
deposit's CPU (measured).
"""

import base64
import hashlib
import re

from flask import Flask, Response, request, session

from app.home.auth import TOKEN_KEY

CSP = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
HSTS = "max-age=31536000; includeSubDomains"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def script_hashes(html: str) -> list[str]:
    digests = (hashlib.sha256(body.encode()).digest() for body in INLINE_SCRIPT.findall(html))
    return [f"'sha256-{base64.b64encode(d).decode()}'" for d in digests]


def docs_csp(response: Response) -> str:
    hashes = script_hashes(response.get_data(as_text=True)) if response.mimetype == "text/html" else []
    return f"{CSP}; script-src 'self' {' '.join(hashes)}".rstrip() + "; style-src 'self' 'unsafe-inline'"


def set_docs_csp(response: Response) -> Response:
    """Swagger UI's page and its errors: their own inline scripts allowed (its assets get the strict policy)."""
    if not response.direct_passthrough:
        response.headers["Content-Security-Policy"] = docs_csp(response)
    return response


_ALWAYS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
]
_HSTS = ("Strict-Transport-Security", HSTS)
_NO_STORE = ("Cache-Control", "no-store")
_OURS = {name.lower() for name, _ in _ALWAYS} | {_HSTS[0].lower()}


def with_security_headers(headers: list, secure: bool) -> list:
    """The response's headers with ours: they replace any of the same name, except a
    Content-Security-Policy the response set itself (Swagger UI's page), which stays. A response that sets a
    cookie (the session's: a login, a registration, a form's CSRF token) is never stored by a cache."""
    merged = []
    own_csp = False
    sets_cookie = any(name.lower() == "set-cookie" for name, _ in headers)
    for name, value in headers:
        lower = name.lower()
        if lower in _OURS or (sets_cookie and lower == "cache-control"):
            continue
        if lower == "content-security-policy":
            own_csp = True
        merged.append((name, value))
    merged.extend(_ALWAYS)
    if sets_cookie:
        merged.append(_NO_STORE)
    if not own_csp:
        merged.append(("Content-Security-Policy", CSP))
    if secure:  # https as the app sees it: behind ProxyFix, as the proxy says
        merged.append(_HSTS)
    return merged


class SecurityHeaders:
    """WSGI middleware: the security headers on every response of the app it wraps."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        def start_with_headers(status, headers, exc_info=None):
            secure = environ.get("wsgi.url_scheme") in ("https", "wss")
            return start_response(status, with_security_headers(headers, secure), exc_info)

        return self.wsgi_app(environ, start_with_headers)


def register_security_headers(app: Flask) -> None:
    """Wrap the app (inside ProxyFix, create_app): https is judged when the response starts, by then
    as the proxy said."""
    app.wsgi_app = SecurityHeaders(app.wsgi_app)


def signed_in() -> bool:
    """The request carries credentials: a bearer token (API) or a browser session with its token (web pages;
    the API never opens the session)."""
    if "Authorization" in request.headers:
        return True
    return not request.path.startswith("/api/") and session.get(TOKEN_KEY) is not None


# Views whose reply body is a credential: the API login's bearer token. (A reply that sets a cookie is
# no-store too: with_security_headers, which sees the Set-Cookie that Flask adds after every after_request.)
CREDENTIAL_ENDPOINTS = {"auth.Login"}


def no_store_when_signed_in(response: Response) -> Response:
    if request.endpoint is not None and request.endpoint.endswith("static"):
        return response  # the app's own CSS and scripts: the same for everyone
    if signed_in() or request.endpoint in CREDENTIAL_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response


def register_no_store(app: Flask) -> None:
    app.after_request(no_store_when_signed_in)
