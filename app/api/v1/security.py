"""Bearer-token authentication for the API. Authorisation (roles, owners) lives in services."""

import functools

from flask import g, request
from flask_smorest import abort

from app.services import sessions
from app.services.errors import Unauthorized
from app.services.policy import Actor

BEARER = [{"bearerAuth": []}]


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def auth_required(view):
    """Authenticate the request; 401 with WWW-Authenticate: Bearer when it cannot be."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        token = bearer_token()
        if token is None or len(token) > 512:
            abort(401, message="Sign in: send Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"})
        try:
            g.actor = sessions.authenticate(token)
        except Unauthorized as error:
            abort(401, message=error.message, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return view(*args, **kwargs)

    doc = getattr(wrapper, "_apidoc", {})
    wrapper._apidoc = {**doc, "manual_doc": {**doc.get("manual_doc", {}), "security": BEARER}}
    return wrapper


def actor() -> Actor:
    return g.actor
