"""The body parser's shortcut for flat schemas loads exactly what the whole webargs/marshmallow parse
would, and leaves everything else (every refusal included) to that parse."""

import json

import pytest
from flask import request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException

from app.api.base import JSONBodyParser, VendingBlueprint
from app.api.v1 import schemas

FLAT = [schemas.DepositSchema, schemas.BuySchema, schemas.LoginSchema, schemas.RegisterSchema,
        schemas.PasswordChangeSchema]
REFUSED = object()


def both_ways(parser: JSONBodyParser, schema, body: bytes, content_type: str = "application/json"):
    """(the shortcut's result or None, the whole parse's result or REFUSED) for one request body."""
    plain = parser._plain_fields(schema)
    assert plain is not None, f"{schema.__name__} should take the shortcut"
    from flask import current_app

    with current_app.test_request_context("/", method="POST", data=body, content_type=content_type):
        fast = parser._load_plain(request, plain)
        try:
            full = super(JSONBodyParser, parser).parse(schema, request, location="json")
        except HTTPException:
            full = REFUSED
    return fast, full


def key_values(schema):
    keys = sorted(schema().load_fields[name].data_key or name for name in schema().load_fields)
    return keys


json_values = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([0, 1, 5, 10, 20, 50, 100, 2**31 - 1, 2**31]),
    st.booleans(), st.none(), st.floats(allow_nan=False), st.text(max_size=40),
    st.sampled_from(["ab", "valid_user1", "correct-horse-1", "a" * 33, "Cola", "\x00x"]),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def bodies(draw, schema):
    keys = key_values(schema)
    chosen = draw(st.lists(st.sampled_from(keys + ["extra", "coins"]), unique=True, max_size=len(keys) + 1))
    body = {key: draw(json_values) for key in chosen}
    return json.dumps(body).encode()


@pytest.mark.parametrize("schema", FLAT, ids=lambda s: s.__name__)
def test_the_shortcut_loads_what_the_whole_parse_loads_or_leaves_the_body_to_it(app, schema):
    parser = JSONBodyParser()

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies(schema))
    def check(body):
        fast, full = both_ways(parser, schema, body)
        assert fast is None or fast == full, (body, fast, full)

    check()


@pytest.mark.parametrize(("schema", "body", "loaded"), [
    (schemas.DepositSchema, {"coin": 100}, {"coin": 100}),
    (schemas.BuySchema, {"productId": 7}, {"product_id": 7, "amount": 1}),
    (schemas.BuySchema, {"productId": 7, "amount": 3}, {"product_id": 7, "amount": 3}),
    (schemas.LoginSchema, {"username": "ann", "password": "pw"}, {"username": "ann", "password": "pw"}),
])
def test_a_well_formed_body_takes_the_shortcut(app, schema, body, loaded):
    fast, full = both_ways(JSONBodyParser(), schema, json.dumps(body).encode())
    assert fast == full == loaded


@pytest.mark.parametrize(("body", "content_type"), [
    (b'{"coin": 3}', "application/json"),  # not a coin
    (b'{"coin": 100, "extra": 1}', "application/json"),  # unknown field
    (b'{"coin": true}', "application/json"),
    (b'{"coin": "100"}', "application/json"),
    (b"{}", "application/json"),
    (b"[100]", "application/json"),
    (b'{"coin": 100', "application/json"),
    ('{"coin": 100}'.encode("utf-16"), "application/json"),  # json.loads would take it; webargs decodes UTF-8
    (b'{"coin": 100}', "text/plain"),
    (b'{"coin": 100, "\\ud800": 1}', "application/json"),
])
def test_anything_else_is_left_to_the_whole_parse(app, body, content_type):
    fast, full = both_ways(JSONBodyParser(), schemas.DepositSchema, body, content_type)
    assert fast is None
    assert full is REFUSED


def test_schemas_with_hooks_nesting_or_lenient_unknown_fields_never_take_it(app):
    parser = JSONBodyParser()
    assert parser._plain_fields(schemas.UserQuerySchema) is not None  # flat too (used in the query string)
    assert parser._plain_fields(schemas.ProductInputSchema) is None  # field validators as schema methods
    assert parser._plain_fields(schemas.CoinListSchema) is None  # a list field; and unknown fields pass
    assert parser._plain_fields({"coin": schemas.StrictInteger()}) is None  # a dict of fields


def test_the_blueprints_parsers_are_this_parser():
    assert isinstance(VendingBlueprint.ARGUMENTS_PARSER, JSONBodyParser)


def test_the_api_answers_a_bad_body_as_before(client, buyer):
    response = client.post("/api/v1/deposit", json={"coin": 3}, headers=buyer.headers)
    assert response.status_code == 422
    assert response.json["errors"] == {"json": {"coin": ["Must be one of: 5, 10, 20, 50, 100."]}}
    response = client.post("/api/v1/deposit", json={"coin": 100, "x": 1}, headers=buyer.headers)
    assert response.status_code == 422
    assert response.json["errors"] == {"json": {"x": ["Unknown field."]}}
    response = client.post("/api/v1/deposit", json={"coin": 100}, headers=buyer.headers)
    assert (response.status_code, response.json["deposit"]) == (200, 100)
