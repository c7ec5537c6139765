"""Structured logs: one JSON object a line, from the app and from gunicorn's access log, each with its request id.

Every line has `time` (UTC, ISO 8601), `level`, `logger`, `pid`, `request_id` (null outside a request) and
`message`; a line with an error has `exc_info`. Access lines (logger `gunicorn.access`) have `method`, `route`
(the URL rule, e.g. /api/v1/orders/<int:order_id>), `path`, `status`, `duration_ms`, `user_id` (null when not
signed in), `bytes`, `remote_addr`, `forwarded_for` and `user_agent`, and nothing else of the request: no
query string, no header but those, so no token, cookie or Authorization header can reach a log. Messages and
tracebacks also pass through `redact`, which masks bearer tokens, session tokens and password fields.

The request id is the client's (nginx's) X-Request-ID when it looks like one, else a random one; it is
echoed in the response's X-Request-ID. It travels in the WSGI environ, which gunicorn hands to its access
log as `{vending.request_id}e` (the route and the user id travel the same way).

gunicorn_cfg.py installs these formatters and the filter with its `logconfig_dict`. Under `flask run` and in
tests logging stays as Flask and pytest set it.
"""

import logging
import re
import secrets
import time
from datetime import UTC, datetime

from flask import has_request_context, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID = "vending.request_id"
ROUTE = "vending.route"
USER_ID = "vending.user_id"
STARTED = "vending.started"
REQUEST_ID_HEADER = "X-Request-ID"
# The same rule as nginx/vending.conf's map: 8 to 128 of these characters, else a new id.
GOOD_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")

_SECRETS = [
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"), r"\1***"),
    (re.compile(r"\bvm_[A-Za-z0-9_\-]{8,}"), "vm_***"),
    (re.compile(r"(?i)(\"?(?:current_?)?password\"?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;}]+)"), r"\1***"),
    (re.compile(r"(?i)((?:authorization|cookie|set-cookie)\"?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\n]+)"), r"\1***"),
]


def redact(text: str) -> str:
    """Mask bearer and session tokens, password fields and Authorization/Cookie values in a log text."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def new_request_id() -> str:
    return secrets.token_hex(16)


class RequestIds:
    """WSGI middleware: a request id for every request (the client's, when it looks like one), in the environ
    for the logs and in the response's X-Request-ID header."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        sent = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = sent if GOOD_REQUEST_ID.fullmatch(sent) else new_request_id()
        environ[REQUEST_ID] = request_id
        environ[STARTED] = time.perf_counter()

        def start_with_id(status, headers, exc_info=None):
            headers = [(name, value) for name, value in headers if name.lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start_with_id)


def note_user(user_id: int) -> None:
    """The signed-in user of this request, for its access line."""
    request.environ[USER_ID] = user_id


def note_route() -> None:
    """The URL rule that answered (bounded: never a raw path), for the access line and the metrics."""
    request.environ[ROUTE] = request.url_rule.rule if request.url_rule is not None else "(unmatched)"


def current_request_id() -> str | None:
    return request.environ.get(REQUEST_ID) if has_request_context() else None


class RequestContextFilter(logging.Filter):
    """Puts the request id on every record logged while a request is handled (None otherwise)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


def _iso_time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")


class JsonLogFormatter(JsonFormatter):
    """The app's and gunicorn's own lines: time, level, logger, pid, request_id, message (+ exc_info, extras)."""

    def add_fields(self, log_data, record, message_dict) -> None:
        super().add_fields(log_data, record, message_dict)
        extras = {key: value for key, value in log_data.items() if key not in ("request_id", "exc_info", "message")}
        log_data.clear()
        log_data.update(time=_iso_time(record), level=record.levelname, logger=record.name, pid=record.process,
                        request_id=getattr(record, "request_id", None), message=redact(record.getMessage()))
        if message_dict.get("exc_info"):
            log_data["exc_info"] = redact(message_dict["exc_info"])
        for key, value in extras.items():
            log_data.setdefault(key, value)


def _number(value):
    return value if isinstance(value, int) else None


def _atom(atoms, name: str):
    value = atoms.get(name, "-") if hasattr(atoms, "get") else "-"
    return None if value in ("-", None, "") else value


class AccessLogFormatter(JsonFormatter):
    """gunicorn's access lines: the record's args are gunicorn's atoms (request, response and environ values);
    only the fields listed in the module docstring are taken from them."""

    def add_fields(self, log_data, record, message_dict) -> None:
        atoms = record.args if hasattr(record.args, "get") else {}

        def environ(key: str):
            return _atom(atoms, "{" + key + "}e")

        status = _atom(atoms, "s")
        micros = _number(_atom(atoms, "D"))
        log_data.clear()
        log_data.update(
            time=_iso_time(record), level=record.levelname, logger=record.name, pid=record.process,
            request_id=environ(REQUEST_ID), message="request",
            method=_atom(atoms, "m"), route=environ(ROUTE), path=_atom(atoms, "U"),
            status=int(status) if status and str(status).isdigit() else status,
            duration_ms=round(micros / 1000, 3) if micros is not None else None,
            user_id=environ(USER_ID), bytes=_number(_atom(atoms, "B")), remote_addr=_atom(atoms, "h"),
            forwarded_for=_atom(atoms, "{x-forwarded-for}i"), user_agent=_atom(atoms, "a"),
        )
