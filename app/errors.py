"""One error policy: JSON in flask-smorest's shape under /api, friendly HTML pages elsewhere."""

import logging

from flask import Flask, jsonify, render_template, request
from jinja2 import TemplateNotFound
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.extensions import api
from app.services.errors import ServiceError

log = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path.startswith("/api") or request.path == "/healthz"


def error_body(status: int, message: str | None = None, errors: dict | None = None) -> dict:
    from http import HTTPStatus

    body: dict = {"code": status, "status": HTTPStatus(status).phrase}
    if message:
        body["message"] = message
    if errors:
        body["errors"] = errors
    return body


def service_error_body(error: ServiceError) -> dict:
    errors = {"json": error.errors} if error.errors else None
    return error_body(error.http_status, error.message, errors)


def _html_error(status: int, message: str | None):
    try:
        return render_template(f"errors/{status}.html", message=message), status
    except TemplateNotFound:
        return render_template("errors/generic.html", status=status, message=message), status


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def handle_service_error(error: ServiceError):
        if wants_json():
            response = jsonify(service_error_body(error))
            response.status_code = error.http_status
            if error.http_status == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return _html_error(error.http_status, error.message)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException):
        if wants_json():
            payload, code, headers = api.handle_http_exception(error)
            response = jsonify(payload)
            response.status_code = code
            response.headers.update(headers or {})
            return response
        response = _html_error(error.code or 500, None)
        if error.code == 405:
            return response[0], 405, {"Allow": ", ".join(error.valid_methods or [])}
        return response

    @app.errorhandler(DBAPIError)
    def handle_database_error(error: DBAPIError):
        """A lost database connection is an outage the client can retry (the pool already dropped
        the connection); any other database error is a bug."""
        if not error.connection_invalidated:
            return handle_unexpected(error)
        log.warning("database connection lost on %s %s: %s", request.method, request.path, error.orig)
        message = "The connection to the database was lost; please try again"
        if wants_json():
            response = jsonify(error_body(503, message))
            response.status_code = 503
        else:
            response = _html_error(503, message)
            response = app.make_response(response)
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return handle_http_exception(InternalServerError())
