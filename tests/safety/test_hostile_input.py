"""Hostile input: every malformed request gets a 4xx JSON error in the usual shape and changes nothing."""

import json
from http import HTTPStatus

import pytest

from tests.factories import make_product


def assert_json_error(response, statuses=None) -> dict:
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:500]
    if statuses:
        assert response.status_code in statuses, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == response.status_code
    assert body["status"] == HTTPStatus(response.status_code).phrase
    assert set(body) <= {"code", "status", "message", "errors"}
    return body


@pytest.fixture
def world(app, client, buyer, seller, admin):
    product_id = make_product(seller, product_name="Cola", cost=35, amount_available=10, refundable=True).id
    client.post("/api/v1/deposit", json={"coin": 100}, headers=buyer.headers)
    bought = client.post("/api/v1/buy", json={"productId": product_id}, headers=buyer.headers)
    assert bought.status_code == 200
    client.post("/api/v1/deposit", json={"coin": 50}, headers=buyer.headers)
    return {"buyer": buyer, "seller": seller, "admin": admin, "product": product_id, "order": bought.json["orderId"]}


# (who, method, path, json body) for each writing endpoint, with a body slot for the hostile value
def targets(w):
    pid = w["product"]
    return {
        "register": (None, "post", "/api/v1/users", lambda v: {"username": v, "password": "correct-horse-1",
                                                                "role": "buyer"}),
        "login": (None, "post", "/api/v1/auth/login", lambda v: {"username": v, "password": "correct-horse-1"}),
        "deposit": ("buyer", "post", "/api/v1/deposit", lambda v: {"coin": v}),
        "buy-amount": ("buyer", "post", "/api/v1/buy", lambda v: {"productId": pid, "amount": v}),
        "buy-product": ("buyer", "post", "/api/v1/buy", lambda v: {"productId": v}),
        "create-cost": ("seller", "post", "/api/v1/products", lambda v: {"productName": "Tea", "cost": v,
                                                                          "amountAvailable": 1}),
        "create-name": ("seller", "post", "/api/v1/products", lambda v: {"productName": v, "cost": 50,
                                                                          "amountAvailable": 1}),
        "patch-stock": ("seller", "patch", f"/api/v1/products/{pid}", lambda v: {"amountAvailable": v}),
        "patch-cost": ("seller", "patch", f"/api/v1/products/{pid}", lambda v: {"cost": v}),
        "tubes": ("admin", "put", "/api/v1/machine/coins", lambda v: {"5": v, "10": 1, "20": 1, "50": 1, "100": 1}),
    }


BAD_NUMBERS = {
    "2**64": 2**64,
    "10**30": 10**30,
    "-2**63-1": -(2**63) - 1,
    "negative": -5,
    "float": 5.0,
    "fraction": 12.5,
    "string": "50",
    "bool": True,
    "null": None,
    "array": [50],
    "object": {"value": 50},
}
NUMBER_TARGETS = ["deposit", "buy-amount", "buy-product", "create-cost", "patch-stock", "patch-cost", "tubes"]


def send(client, w, target, value):
    who, method, path, body = targets(w)[target]
    headers = w[who].headers if who else {}
    return getattr(client, method)(path, json=body(value), headers=headers)


@pytest.mark.parametrize("value", BAD_NUMBERS.values(), ids=BAD_NUMBERS.keys())
def test_bad_numbers_are_refused(client, world, db_snapshot, value):
    before = db_snapshot()
    for target in NUMBER_TARGETS:
        response = send(client, world, target, value)
        assert_json_error(response, {409, 422} if target == "buy-product" else {422})
        assert db_snapshot() == before, target


BAD_NAMES = {
    "10000 chars": "x" * 10_000,
    "nul byte": "Cola\x00",
    "only nul": "\x00",
    "lone surrogate": "\ud800abc",
    "empty": "",
    "blank": "   ",
    "number": 42,
    "array": ["Cola"],
    "object": {"name": "Cola"},
    "null": None,
}


@pytest.mark.parametrize("value", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_names_are_refused(client, world, db_snapshot, value):
    before = db_snapshot()
    for target in ("register", "login", "create-name"):
        response = send(client, world, target, value)
        allowed = {401, 422} if target == "login" else {422}
        assert_json_error(response, allowed | {400} if value == "\ud800abc" else allowed)
        assert db_snapshot() == before, target


@pytest.mark.parametrize("name", ["Café ☕", "Ünïcödé 日本語", "emoji 🥤🥤", "rtl \u202eloC"])
def test_unicode_product_names_round_trip(client, seller, name):
    response = client.post("/api/v1/products", json={"productName": name, "cost": 50, "amountAvailable": 1},
                           headers=seller.headers)
    assert response.status_code == 201, response.json
    assert response.json["productName"] == name
    assert client.get(f"/api/v1/products/{response.json['id']}").json["productName"] == name


@pytest.mark.parametrize("username", ["bühler", "名前名前", "user\x00name", "a" * 10_000, "ab"])
def test_usernames_outside_the_rule_are_refused(client, db_snapshot, username):
    before = db_snapshot()
    response = client.post("/api/v1/users", json={"username": username, "password": "correct-horse-1",
                                                  "role": "buyer"})
    body = assert_json_error(response, {422})
    assert "username" in json.dumps(body).lower()
    assert db_snapshot() == before


RAW_BODIES = {
    "malformed json": (b'{"coin": 50', "application/json"),
    "trailing garbage": (b'{"coin": 50} x', "application/json"),
    "json array": (b"[50]", "application/json"),
    "json scalar": (b"50", "application/json"),
    "json null": (b"null", "application/json"),
    "empty json": (b"", "application/json"),
    "invalid utf-8": (b'{"coin": "\xff\xfe"}', "application/json"),
    "text/plain": (b'{"coin": 50}', "text/plain"),
    "form-encoded": (b"coin=50", "application/x-www-form-urlencoded"),
    "multipart": (b"--x\r\nContent-Disposition: form-data; name=coin\r\n\r\n50\r\n--x--\r\n",
                  "multipart/form-data; boundary=x"),
    "no content type": (b'{"coin": 50}', None),
    "nan": (b'{"coin": NaN}', "application/json"),
    "infinity": (b'{"coin": Infinity}', "application/json"),
    "huge exponent": (b'{"coin": 1e400}', "application/json"),
    "duplicate keys": (b'{"coin": 50, "coin": "x"}', "application/json"),
    "deep nesting": (b'{"coin": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json"),
}


@pytest.mark.parametrize("raw, content_type", RAW_BODIES.values(), ids=RAW_BODIES.keys())
def test_malformed_bodies_are_refused(client, world, db_snapshot, raw, content_type):
    before = db_snapshot()
    for path, who in (("/api/v1/deposit", "buyer"), ("/api/v1/buy", "buyer"), ("/api/v1/products", "seller")):
        headers = dict(world[who].headers)
        if content_type:
            headers["Content-Type"] = content_type
        response = client.post(path, data=raw, headers=headers)
        assert_json_error(response, {400, 415, 422})
        assert db_snapshot() == before, path


def test_empty_body_is_refused(client, world, db_snapshot):
    before = db_snapshot()
    response = client.post("/api/v1/deposit", headers=world["buyer"].headers)
    assert_json_error(response, {400, 415, 422})
    assert db_snapshot() == before


@pytest.mark.parametrize("size", [64 * 1024 + 1, 1024 * 1024], ids=["64KiB+1", "1MiB"])
@pytest.mark.parametrize("path", ["/api/v1/deposit", "/api/v1/users", "/api/v1/auth/login"])
def test_oversized_bodies_are_413(client, world, db_snapshot, size, path):
    body = b'{"coin": 50, "pad": "' + b"x" * size + b'"}'
    before = db_snapshot()
    response = client.post(path, data=body, headers={**world["buyer"].headers, "Content-Type": "application/json"})
    assert_json_error(response, {413})
    assert db_snapshot() == before


def test_a_body_just_under_the_limit_is_parsed(client, world):
    body = b'{"coin": 50, "pad": "' + b"x" * (60 * 1024) + b'"}'
    response = client.post("/api/v1/deposit", data=body,
                           headers={**world["buyer"].headers, "Content-Type": "application/json"})
    body = assert_json_error(response, {422})
    assert "pad" in json.dumps(body["errors"])


@pytest.mark.parametrize("path", [
    "/api/v1/orders/18446744073709551616/refund",
    "/api/v1/orders/99999999999999999999999999999/refund",
    "/api/v1/orders/2147483648/refund",
])
def test_ids_beyond_the_database_range_are_404(client, world, db_snapshot, path):
    before = db_snapshot()
    response = client.post(path, headers=world["buyer"].headers)
    assert_json_error(response, {404})
    assert db_snapshot() == before


@pytest.mark.parametrize("path", [
    "/api/v1/products/18446744073709551616",
    "/api/v1/users/99999999999999999999999999999",
    "/api/v1/orders/2147483648",
    "/api/v1/products?page=99999999999999999999999999",
    "/api/v1/products?sellerId=18446744073709551616",
    "/api/v1/products?q=%00",
])
def test_hostile_reads_are_4xx_or_empty(client, world, path):
    response = client.get(path, headers=world["admin"].headers)
    if response.status_code == 200:
        assert response.json == []
    else:
        assert_json_error(response, {404, 422})


@pytest.mark.parametrize("header", [
    "Bearer " + "x" * 10_000,
    "Bearer \x00",
    "Basic dXNlcjpwYXNz",
    "Bearer",
    "bearer vm_" + "é" * 20,
])
def test_hostile_authorization_headers_are_401(client, world, db_snapshot, header):
    before = db_snapshot()
    response = client.post("/api/v1/deposit", json={"coin": 50}, headers={"Authorization": header})
    assert_json_error(response, {401})
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert db_snapshot() == before
