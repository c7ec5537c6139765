"""Reading a JSON request body safely, for the API's body parser (app.api.base) and for the readers that look at a
body before it (rate-limit keys in app.limits, idempotency fingerprints). Outside the layers, so that app.limits,
which the web pages use too, needs nothing from app.api."""

import json


def check_text(value) -> None:
    """Refuse strings no database can store: unpaired UTF-16 surrogates (written as \\ud800 escapes)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            item.encode("utf-8")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class UnreadableBody(ValueError):
    """A JSON body no parse can use: its status (400 or 422) and the message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def decode_json(raw: bytes):
    """The JSON value of a body, or UnreadableBody for anything json.loads or the database cannot take:
    malformed, nested too deeply or holding unpaired surrogates (400), or a number beyond Python's
    integer-conversion limit (422: json.loads raises a bare ValueError for it)."""
    try:
        value = json.loads(raw)
        check_text(value)
    except RecursionError:
        raise UnreadableBody(400, "JSON nested too deeply.") from None
    except (json.JSONDecodeError, UnicodeError):
        raise UnreadableBody(400, "Invalid JSON body.") from None
    except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise UnreadableBody(422, "Number too large.") from None
    return value


def json_body_or_none(req):
    """The request's JSON body, or None when it has none or an unreadable one. For the readers that run
    before the body parser (rate-limit keys, idempotency fingerprints): the parser answers the refusal.
    Flask's get_json(silent=True) is no substitute: it lets RecursionError through."""
    if not req.is_json:
        return None
    try:
        return decode_json(req.get_data(cache=True))
    except UnreadableBody:
        return None
