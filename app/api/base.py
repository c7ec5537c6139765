"""Project-local flask-smorest bases: strict schemas, SQL pagination, JSON errors with headers."""

import json

import marshmallow as ma
from flask_smorest import Api, Blueprint, Page
from sqlalchemy import func, select
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

# Primary keys are 32-bit INTEGER columns: a larger id in a URL can name nothing, so it is a 404
# from the router instead of a database overflow error (a 500) in the view.
MAX_ID = 2**31 - 1

PAGINATION_HEADER_DOC = {
    "description": (
        'Pagination metadata as JSON text, e.g. {"total": 42, "total_pages": 5, "first_page": 1, '
        '"last_page": 5, "page": 1, "next_page": 2}'
    ),
    "schema": {"type": "string"},
}


class BoundedIntConverter(IntegerConverter):
    """<int:...> limited to what the database can store (documented as the path parameter's maximum)."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(map, fixed_digits, min, MAX_ID if max is None else max, signed)


class VendingApi(Api):
    """Api whose error handler keeps the headers an HTTPException carries (Allow on 405)."""

    def init_app(self, app, *, spec_kwargs=None):
        app.url_map.converters["int"] = BoundedIntConverter
        super().init_app(app, spec_kwargs=spec_kwargs)

    def handle_http_exception(self, error):
        payload, code, headers = super().handle_http_exception(error)
        if isinstance(error, HTTPException):
            extra = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
            headers = {**extra, **(headers or {})}
        return payload, code, headers


def _check_text(value) -> None:
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


# Fields whose deserialize() depends on nothing but the value (no parent schema, no nesting).
_PLAIN_FIELDS = (ma.fields.Integer, ma.fields.String, ma.fields.Boolean)


class JSONBodyParser(FlaskParser):
    """webargs' parser, but a body nested too deeply or holding unpaired surrogates is a 400, not a 500.

    A schema class is instantiated once, not on every request (webargs' default): building a
    marshmallow schema deep-copies its fields, and loading with one instance is reentrant.

    A JSON body for a flat schema (plain fields, unknown fields refused, no hooks) that its fields
    accept is loaded by calling those fields directly, without marshmallow's Schema.load around them
    (measured: most of the parse of a deposit or a buy). Any other body, including every one
    refused, goes the whole way, so errors and their messages are webargs' and marshmallow's own.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._schemas: dict[type, ma.Schema] = {}
        self._plain: dict = {}

    def parse(self, argmap, req=None, *, location=None, unknown=core._UNKNOWN_DEFAULT_PARAM, validate=None,
              **kwargs):
        if validate is None and unknown is core._UNKNOWN_DEFAULT_PARAM and (location or self.location) == "json":
            fields = self._plain_fields(argmap)
            if fields is not None:
                data = self._load_plain(req if req is not None else self.get_default_request(), fields)
                if data is not None:
                    return data
        return super().parse(argmap, req, location=location, unknown=unknown, validate=validate, **kwargs)

    def _plain_fields(self, argmap):
        """(JSON keys, [(key, result key, field)]) when `argmap` is a flat schema, else None."""
        try:
            return self._plain[argmap]
        except KeyError:
            pass
        except TypeError:  # not hashable (a dict of fields): no plain path
            return None
        plain = None
        if isinstance(argmap, ma.Schema) or (isinstance(argmap, type) and issubclass(argmap, ma.Schema)):
            schema = self._get_schema(argmap, None)
            unknown = self.unknown if self.unknown is not core._UNKNOWN_DEFAULT_PARAM else None
            unknown = unknown or self.DEFAULT_UNKNOWN_BY_LOCATION.get("json") or schema.unknown
            fields = [
                (field.data_key or name, field.attribute or name, field) for name, field in schema.load_fields.items()
            ]
            if (
                unknown == ma.RAISE
                and not schema.many
                and not schema.partial
                and not any(schema._hooks.values())
                and all(isinstance(field, _PLAIN_FIELDS) and "." not in name for _, name, field in fields)
            ):
                plain = (frozenset(key for key, _, _ in fields), fields)
        self._plain[argmap] = plain
        return plain

    def _load_plain(self, req, plain) -> dict | None:
        """The loaded body, or None to leave it to the whole parse (which refuses it or loads it)."""
        keys, fields = plain
        try:
            body = self._raw_load_json(req)
        except ValueError:  # not JSON, or JSON this parser refuses: answered by the whole parse
            return None
        if type(body) is not dict or not body.keys() <= keys:
            return None
        data = {}
        try:
            for key, name, field in fields:
                value = field.deserialize(body.get(key, ma.missing), key, body)
                if value is not ma.missing:
                    data[name] = value
        except ma.ValidationError:
            return None
        return data

    def _get_schema(self, argmap, req):
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas.setdefault(argmap, argmap())
            return schema
        return super()._get_schema(argmap, req)

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        raw = req.get_data(cache=True)
        try:
            value = core.parse_json(raw)
            _check_text(value)
        except RecursionError as error:
            raise json.JSONDecodeError("JSON nested too deeply", "<body>", 0) from error
        except UnicodeEncodeError as error:
            raise json.JSONDecodeError("JSON string with an unpaired surrogate", "<body>", error.start) from error
        return value


class VendingBlueprint(Blueprint):
    """Blueprint documenting X-Pagination as the JSON string it really is, with a hardened body parser."""

    ARGUMENTS_PARSER = JSONBodyParser()
    PAGINATION_ARGUMENTS_PARSER = JSONBodyParser()

    @staticmethod
    def _make_pagination_metadata(page, page_size, item_count):
        """flask-smorest's metadata, built as the plain dict its PaginationMetadataSchema would dump."""
        metadata = {"total": item_count}
        if item_count == 0:
            metadata["total_pages"] = 0
            return metadata
        last_page = (item_count - 1) // page_size + 1
        metadata.update(total_pages=last_page, first_page=1, last_page=last_page)
        if page <= last_page:
            metadata["page"] = page
            if page > 1:
                metadata["previous_page"] = page - 1
            if page < last_page:
                metadata["next_page"] = page + 1
        return metadata

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
        from app.services.products import MAX_OFFSET

        if self.page_params.first_item >= MAX_OFFSET:
            return []  # far beyond the last page; the database could not take the offset
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
