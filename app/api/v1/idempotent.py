"""Idempotency-Key handling for the money endpoints (the rules live in services.idempotency)."""

import json

from flask import current_app, g, request

from app import metrics
from app.api.base import RETRY_AFTER, error_response
from app.errors import service_error_body
from app.jsonbody import json_body_or_none
from app.services import idempotency
from app.services.errors import ServiceError

IDEMPOTENCY_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": False,
            "description": (
                "Any 1-255 printable characters, unique per intended operation. A retry with the same key "
                "and body returns the first reply with Idempotent-Replayed: true, and the operation runs "
                "once, whatever failed in between (a lost connection, a restarted server)."
            ),
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
        }
    ],
    # Int keys, like the ones @blp.response uses, so these merge into the documented replies.
    "responses": {
        200: {
            "headers": {
                "Idempotent-Replayed": {
                    "description": "`true` when this is the stored reply to an earlier request with the same key",
                    "required": False,
                    "schema": {"type": "string", "enum": ["true"]},
                }
            }
        },
        422: error_response("Invalid input: the body, or an Idempotency-Key that is malformed or was used with a "
                            "different request"),
        503: error_response(
            "The database is unreachable, busy or cannot take writes. Retry after Retry-After seconds with the "
            "same Idempotency-Key: the operation happens once at most",
            headers=RETRY_AFTER,
            example={"code": 503, "status": "Service Unavailable", "message": "The machine is busy, please try again"},
        ),
    },
}


def _fingerprint() -> str:
    return idempotency.fingerprint(request.method, request.path, json_body_or_none(request))


def _response(reply: idempotency.Reply):
    response = current_app.response_class(reply.body, status=reply.status, mimetype="application/json")
    if reply.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def run_idempotent(operation, schema, *, status: int = 200):
    """`operation()`'s result dumped with `schema`; once per Idempotency-Key when the request has one.
    Its outcome is counted in the money metrics (app.metrics) once, after it is final."""
    name = metrics.api_money_operation()
    try:
        reply = _run(operation, schema, status)
    except ServiceError as error:
        metrics.money_refused(name, "api", error.message)
        raise
    if reply.replayed:
        metrics.money_replayed(name)
    elif reply.status < 400:
        metrics.money_done(name, "api")
    else:
        metrics.money_refused(name, "api", json.loads(reply.body).get("message"))
    return _response(reply)


def _run(operation, schema, status: int) -> idempotency.Reply:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return idempotency.Reply(status, json.dumps(schema.dump(operation())))
    idempotency.check_key(key)
    reply = idempotency.run_once(
        user_id=g.actor.id,
        key=key,
        print_=_fingerprint(),
        session_digest=g.session_digest,
        ttl_seconds=current_app.config["IDEMPOTENCY_TTL_SECONDS"],
        operation=operation,
        reply=lambda result: (status, json.dumps(schema.dump(result))),
        refusal=_refusal,
    )
    current_app.extensions["purger"].purge_if_due()
    return reply


def _refusal(error: ServiceError) -> tuple[int, str]:
    return error.http_status, json.dumps(service_error_body(error))


def replay_for_ended_session():
    """The stored reply for a keyed request whose token has ended since it was first sent, or None."""
    key = request.headers.get("Idempotency-Key")
    if key is None or request.method not in ("POST", "DELETE"):
        return None
    try:
        idempotency.check_key(key)
    except ServiceError:
        return None
    reply = idempotency.replay_for_ended_session(g.session_digest, key, _fingerprint())
    return _response(reply) if reply is not None else None
