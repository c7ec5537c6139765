"""One error policy: JSON in flask-smorest's shape under /api, friendly HTML pages elsewhere.

A database that cannot be reached, or cannot take writes, is an outage the client can retry: 503
with Retry-After on every route, never a 500 (app.data.outages says which errors are outages).
"""

import logging
from http import HTTPStatus

import marshmallow as ma
from flask import Flask, current_app, jsonify, make_response, render_template, request
from jinja2 import TemplateNotFound
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.data.outages import outage_of
from app.data.transactions import Contention
from app.extensions import api
from app.services.errors import ServiceError

log = logging.getLogger(__name__)

BUSY = "The machine is busy, please try again"


def wants_json() -> bool:
    return request.path.startswith("/api") or request.path in ("/healthz", "/livez", "/readyz")


class ErrorSchema(ma.Schema):
    """Every JSON error the API answers, as error_body and flask-smorest's handler write it. For the OpenAPI
    document only: each documented 4xx and 5xx names it, and it is the Api's ERROR_SCHEMA (create_app), so
    flask-smorest's own 422 and default responses are this one schema too."""

    code = ma.fields.Integer(required=True, metadata={"description": "The HTTP status code", "example": 409})
    status = ma.fields.String(required=True, metadata={"description": "The HTTP reason phrase", "example": "Conflict"})
    message = ma.fields.String(metadata={"description": "What went wrong, written for people"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        metadata={"description": "Errors by location (json or query), then by field: "
                                 '{"json": {"coin": ["Must be one of: 5, 10, 20, 50, 100."]}}'},
    )


def error_body(status: int, message: str | None = None, errors: dict | None = None) -> dict:
    body: dict = {"code": status, "status": HTTPStatus(status).phrase}
    if message:
        body["message"] = message
    if errors:
        body["errors"] = errors
    return body


def service_error_body(error: ServiceError) -> dict:
    errors = {"json": error.errors} if error.errors else None
    return error_body(error.http_status, error.message, errors)


def html_error(status: int, message: str | None):
    """The friendly page."""
    try:
        return render_template(f"errors/{status}.html", message=message), status
    except TemplateNotFound:
        return render_template("errors/generic.html", status=status, message=message), status


def outage_page(message: str):
    """The friendly 503 page, rendered without the context processors: Flask-Login's would load the
    signed-in user from the database that is down. The page shows no account menu (`outage`)."""
    page = current_app.jinja_env.get_template("errors/503.html")
    return page.render(message=message, outage=True, request=request), 503


def unavailable(message: str, retry_after: int):
    """503 with Retry-After, as JSON or as the friendly page."""
    if wants_json():
        response = jsonify(error_body(503, message))
        response.status_code = 503
    else:
        response = make_response(outage_page(message))
    response.headers["Retry-After"] = str(retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response


SENSITIVE_HEADERS = {"authorization", "cookie", "set-cookie", "x-csrftoken", "x-csrf-token"}


def _scrub(event: dict, _hint: dict) -> dict:
    """No credentials in a Sentry event, whatever the SDK's defaults: headers and cookies removed."""
    request_info = event.get("request") or {}
    headers = request_info.get("headers")
    if isinstance(headers, dict):
        request_info["headers"] = {k: v for k, v in headers.items() if k.lower() not in SENSITIVE_HEADERS}
    request_info.pop("cookies", None)
    request_info.pop("data", None)
    return event


def init_error_reporting(app: Flask) -> None:
    """Errors to Sentry when SENTRY_DSN is set: every unhandled exception (handle_unexpected below) becomes an
    event, with the request's
    method and URL but never its body, cookies or credentials. Without SENTRY_DSN sentry-sdk is not even imported.
    SENTRY_TRANSPORT (tests only) replaces the network transport."""
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    app.extensions["report_error"] = sentry_sdk.capture_exception
    sentry_sdk.init(
        dsn=dsn,
        environment=app.config.get("SENTRY_ENVIRONMENT"),
        # Unhandled errors are sent by handle_unexpected itself; log lines stay breadcrumbs.
        integrations=[FlaskIntegration(), LoggingIntegration(level=logging.INFO, event_level=None)],
        max_request_body_size="never",
        before_send=_scrub,
        transport=app.config.get("SENTRY_TRANSPORT"),
    )


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def handle_service_error(error: ServiceError):
        if error.http_status == 503:
            return unavailable(error.message, 1)
        if wants_json():
            response = jsonify(service_error_body(error))
            response.status_code = error.http_status
            if error.http_status == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return html_error(error.http_status, error.message)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException):
        if wants_json():
            payload, code, headers = api.handle_http_exception(error)
            response = jsonify(payload)
            response.status_code = code
            # what the exception carries (Allow on a 405), which flask-smorest's handler leaves out
            response.headers.update({k: v for k, v in error.get_headers() if k.lower() != "content-type"})
            response.headers.update(headers or {})
            return response
        response = html_error(error.code or 500, None)
        if error.code == 405:
            return response[0], 405, {"Allow": ", ".join(error.valid_methods or [])}
        return response

    @app.errorhandler(Contention)
    def handle_contention(error: Contention):
        log.warning("database busy through every attempt on %s %s: %s", request.method, request.path, error)
        return unavailable(BUSY, 1)

    @app.errorhandler(SQLAlchemyError)
    def handle_database_error(error: SQLAlchemyError):
        outage = outage_of(error)
        if outage is None:
            return handle_unexpected(error)
        log.warning("database outage on %s %s: %s", request.method, request.path, str(error).splitlines()[0])
        return unavailable(outage.message, outage.retry_after)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        log.exception("Unhandled error on %s %s", request.method, request.path)
        report = current_app.extensions.get("report_error")
        if report is not None:
            report(error)
        return handle_http_exception(InternalServerError())
