"""Bearer-token authentication for the API. Authorisation (roles, owners) lives in services."""

import functools

from flask import g, request
from flask_smorest import Blueprint, abort

from app.api.base import error_response
from app.api.v1.idempotent import replay_for_ended_session
from app.logs import note_user
from app.services import policy, sessions
from app.services.errors import Unauthorized
from app.services.policy import Actor

BEARER = [{"bearerAuth": []}]
SIGN_IN = "Sign in: send Authorization: Bearer <token>"
UNAUTHORIZED = error_response(
    "No bearer token, or one that has expired or was ended",
    headers={"WWW-Authenticate": {"description": 'Bearer; Bearer error="invalid_token" for a token no longer valid',
                                  "required": True, "schema": {"type": "string"}}},
    example={"code": 401, "status": "Unauthorized", "message": SIGN_IN},
)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def auth_required(view):
    """Check the request's token against the session registry; 401 with WWW-Authenticate: Bearer when
    it cannot be. A money request retried with an ended token gets its stored reply (see
    app.api.v1.idempotent), so an account deleted by its own request still tells its coins."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        token = bearer_token()
        if token is None or len(token) > 512:
            abort(401, message=SIGN_IN, headers={"WWW-Authenticate": "Bearer"})
        g.session_digest = sessions.hash_token(token)
        try:
            g.actor, g.account = sessions.authenticate(token)
        except Unauthorized as error:
            replay = replay_for_ended_session()
            if replay is not None:
                return replay
            abort(401, message=error.message, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        note_user(g.actor.id)
        return view(*args, **kwargs)

    return Blueprint.doc(security=BEARER, responses={401: UNAUTHORIZED})(wrapper)


def own_account_or_admin(view):
    """403 unless the signed-in user is the account in the path (<user_id>) or an operator, before anything
    else reads the request: a password change of someone else's account never reaches a rate-limit budget.
    The rule is policy.require_self_or_admin, which the service applies again."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        policy.require_self_or_admin(actor(), kwargs["user_id"])
        return view(*args, **kwargs)

    return wrapper


def actor() -> Actor:
    return g.actor


def account() -> sessions.Account:
    return g.account
