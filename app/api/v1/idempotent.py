"""Idempotency-Key handling for the money endpoints (the rules live in services.idempotency)."""

import json

from flask import current_app, jsonify, request

from app.api.v1.security import actor
from app.errors import service_error_body
from app.services import idempotency
from app.services.errors import ServiceError

IDEMPOTENCY_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": False,
            "description": (
                "Any 1-255 printable characters, unique per intended operation. A retry with the same "
                "key and body returns the first reply with Idempotent-Replayed: true and changes nothing."
            ),
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
        }
    ],
    # An int key, like the one @blp.response uses, so this merges into the documented 200 reply.
    "responses": {
        200: {
            "headers": {
                "Idempotent-Replayed": {
                    "description": "`true` when this is the stored reply to an earlier request with the same key",
                    "required": False,
                    "schema": {"type": "string", "enum": ["true"]},
                }
            }
        }
    },
}


def run_idempotent(call, schema, body, status: int = 200):
    """Run `call(on_success)` once per Idempotency-Key; replay the stored reply on repeats."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        dumped = {}
        call(lambda result: dumped.update(body=schema.dump(result)))
        return _reply(dumped["body"], status)
    idempotency.check_key(key)
    user = actor()
    claimed = idempotency.claim(
        user.id,
        key,
        idempotency.fingerprint(request.method, request.path, body),
        current_app.config["IDEMPOTENCY_TTL_SECONDS"],
    )
    if isinstance(claimed, idempotency.Replay):
        response = jsonify(json.loads(claimed.body))
        response.status_code = claimed.status
        response.headers["Idempotent-Replayed"] = "true"
        return response

    dumped = {}

    def on_success(result):
        dumped["body"] = schema.dump(result)
        idempotency.record_outcome(claimed, status, json.dumps(dumped["body"]))

    try:
        call(on_success)
        return _reply(dumped["body"], status)
    except ServiceError as error:
        if error.http_status >= 500:
            idempotency.release(claimed)  # a busy database is worth retrying with the same key
        else:
            idempotency.record_refusal(claimed, error.http_status, json.dumps(service_error_body(error)))
        raise
    except BaseException:
        idempotency.release(claimed)
        raise


def _reply(body, status: int):
    """The reply is dumped inside the transaction (on_success), while the rows are fresh: dumping
    after the commit would reload every expired object with another round of queries."""
    response = jsonify(body)
    response.status_code = status
    return response
