"""Project-local flask-smorest bases: strict schemas, SQL pagination, JSON errors with headers."""

import marshmallow as ma
from flask_smorest import Api, Blueprint, Page
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

PAGINATION_HEADER_DOC = {
    "description": (
        'Pagination metadata as JSON text, e.g. {"total": 42, "total_pages": 5, "first_page": 1, '
        '"last_page": 5, "page": 1, "next_page": 2}'
    ),
    "schema": {"type": "string"},
}


class VendingApi(Api):
    """Api whose error handler keeps the headers an HTTPException carries (Allow on 405)."""

    def handle_http_exception(self, error):
        payload, code, headers = super().handle_http_exception(error)
        if isinstance(error, HTTPException):
            extra = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
            headers = {**extra, **(headers or {})}
        return payload, code, headers


class VendingBlueprint(Blueprint):
    """Blueprint documenting X-Pagination as the JSON string it really is."""

    def _document_pagination_metadata(self, spec, resp_doc):
        resp_doc.setdefault("headers", {})[self.PAGINATION_HEADER_NAME] = PAGINATION_HEADER_DOC


class SQLPage(Page):
    """Pages a SQLAlchemy select() with COUNT + LIMIT/OFFSET."""

    @property
    def item_count(self):
        from app.extensions import db

        return db.session.scalar(select(func.count()).select_from(self.collection.order_by(None).subquery()))

    @property
    def items(self):
        from app.extensions import db

        stmt = self.collection.limit(self.page_params.page_size).offset(self.page_params.first_item)
        return list(db.session.scalars(stmt))


class StrictSchema(ma.Schema):
    """Unknown fields are an error: no mass assignment."""

    class Meta:
        unknown = ma.RAISE


class StrictInteger(ma.fields.Integer):
    """A JSON integer: no booleans, no floats, no numeric strings, within 64-bit range."""

    default_error_messages = {"invalid": "Not a valid integer.", "too_large": "Number too large."}

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is not int:
            raise self.make_error("invalid")
        if not -(2**63) <= value < 2**63:
            raise self.make_error("too_large")
        return value


class StrictBoolean(ma.fields.Boolean):
    """Only JSON true or false."""

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is not bool:
            raise self.make_error("invalid", input=value)
        return value
