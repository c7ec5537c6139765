"""Project-local flask-smorest bases: strict schemas, a hardened JSON body parser, pages."""

import json

import marshmallow as ma
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate
from webargs import missing
from webargs.flaskparser import FlaskParser
from werkzeug.routing import IntegerConverter

from app.data.pages import MAX_PAGE_SIZE, Page
from app.errors import ErrorSchema
from app.jsonbody import UnreadableBody, decode_json
from app.models.columns import MAX_ID
from app.services import reports
from app.services.errors import InvalidInput

PAGINATION_HEADERS = {
    "X-Pagination": {
        "description": (
            'Pagination metadata as JSON text, e.g. {"total": 42, "total_pages": 5, "first_page": 1, '
            '"last_page": 5, "page": 1, "next_page": 2}'
        ),
        "schema": {"type": "string"},
    }
}


class BoundedIntConverter(IntegerConverter):
    """<int:...> limited to what the database can store (documented as the path parameter's maximum): a
    larger id names nothing, so it is a 404 from the router instead of an overflow error in the view."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(map, fixed_digits, min, MAX_ID if max is None else max, signed)


class JSONBodyParser(FlaskParser):
    """webargs' parser with a JSON loader that answers every body decode_json refuses with a 4xx, never a crash."""

    def load_json(self, req, schema):
        if not req.is_json:
            return missing
        raw = req.get_data(cache=True)
        if not raw:
            return missing
        try:
            return decode_json(raw)
        except UnreadableBody as refused:
            abort(refused.status, messages={"json": [refused.message]})


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
# The 503 when every slot of the worker's cap on expensive work (argon2, password strength, picture decoding) is
# taken (app.services.expensive).
EXPENSIVE_WORK_BUSY = "This server is busy with other password checks or pictures: retry after Retry-After seconds"
BODY_TOO_LARGE = "The body is larger than the server accepts (MAX_CONTENT_LENGTH, 64 KiB by default)"


def error_response(description: str, *, headers: dict | None = None, example: dict | None = None) -> dict:
    """An error reply as an OpenAPI response object with ErrorSchema, for Blueprint.doc(responses=...) where a
    decorator without a blueprint documents what it answers (the token check's 401, the money operations' 503)."""
    media: dict = {"schema": ErrorSchema}
    if example is not None:
        media["example"] = example
    response = {"description": description, "content": {"application/json": media}}
    if headers:
        response["headers"] = headers
    return response


class VendingBlueprint(Blueprint):
    ARGUMENTS_PARSER = JSONBodyParser()

    def error(self, status: int, description: str, *, example: dict | None = None, headers: dict | None = None):
        """Document an error reply of the operation: every one has ErrorSchema's shape (app.errors)."""
        return self.alt_response(status, schema=ErrorSchema, description=description, example=example,
                                 headers=headers)

    def arguments(self, schema, *, location="json", **kwargs):
        """flask-smorest's, and for a JSON body its 413 documented too: MAX_CONTENT_LENGTH applies to every body."""
        parse = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return parse
        too_large = self.error(413, BODY_TOO_LARGE)
        return lambda view: too_large(parse(view))


def page_headers(page: Page) -> dict[str, str]:
    return {"X-Pagination": json.dumps(page.metadata())}


class StrictSchema(ma.Schema):
    """Unknown fields are an error: no mass assignment."""

    class Meta:
        unknown = ma.RAISE


class PageQuerySchema(StrictSchema):
    """`page` and `page_size` of a paginated list; lists with filters extend it."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_ID))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


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


NO_NUL = validate.Regexp(r"^[^\x00]*$", error="Must not contain NUL characters.")


class Text(ma.fields.String):
    """A string the databases can store: no NUL character (PostgreSQL refuses one in any text). Documented
    as a pattern, so schemathesis sends NULs in its negative cases."""

    def __init__(self, *, validate=None, **kwargs):
        rules = [] if validate is None else [validate] if callable(validate) else list(validate)
        super().__init__(validate=[NO_NUL, *rules], **kwargs)


class Day(ma.fields.Date):
    """A UTC day (YYYY-MM-DD) the order lists can filter by (app.services.reports.check_day): a day the
    database cannot store, or whose next day Python cannot count, is a 422, never an overflow."""

    def __init__(self, **kwargs):
        metadata = dict(kwargs.pop("metadata", {}))
        metadata["description"] = f"{metadata.get('description', 'A UTC day')}; {reports.DAY_RULE.lower()}"
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        try:
            reports.check_day(day)
        except InvalidInput as refused:
            raise ma.ValidationError(refused.message) from None
        return day
