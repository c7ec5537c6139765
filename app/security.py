"""Security headers on every response.

The Content-Security-Policy allows only the app's own assets. The one exception is Swagger UI's page
(/api/docs/), whose template carries an inline script: that page alone gets script-src with the
sha256 of the inline scripts it actually serves (never 'unsafe-inline' for scripts), plus inline
styles, which Swagger UI's React components set.
"""

import base64
import hashlib
import re

from flask import Flask, Response, request

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
DOCS_PREFIX = "/api/docs"
HSTS = "max-age=31536000; includeSubDomains"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def script_hashes(html: str) -> list[str]:
    digests = (hashlib.sha256(body.encode()).digest() for body in INLINE_SCRIPT.findall(html))
    return [f"'sha256-{base64.b64encode(d).decode()}'" for d in digests]


def docs_csp(response: Response) -> str:
    hashes = script_hashes(response.get_data(as_text=True)) if response.mimetype == "text/html" else []
    return f"{CSP}; script-src 'self' {' '.join(hashes)}".rstrip() + "; style-src 'self' 'unsafe-inline'"


def set_security_headers(response: Response) -> Response:
    headers = response.headers
    if request.path.startswith(DOCS_PREFIX) and not response.direct_passthrough:
        headers["Content-Security-Policy"] = docs_csp(response)
    else:
        headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.is_secure:
        headers["Strict-Transport-Security"] = HSTS
    return response


def register_security_headers(app: Flask) -> None:
    app.after_request(set_security_headers)
