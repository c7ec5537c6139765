"""The role/owner matrix: every protected endpoint x (anonymous, buyer, other buyer, seller, other seller, admin)."""

import pytest

from tests.api.conftest import API, assert_401, assert_error, give_escrow
from tests.factories import make_product

WHO = ("anonymous", "buyer", "other_buyer", "seller", "other_seller", "admin")


def expect(default: int, **special: int) -> dict[str, int]:
    """Expected status per caller: anonymous 401, `default` for everyone not named."""
    table = dict.fromkeys(WHO, default)
    table["anonymous"] = 401
    table.update(special)
    return table


BUYERS_ONLY = expect(403, buyer=200, other_buyer=200)
ADMIN_ONLY = expect(403, admin=200)
ANYONE_SIGNED_IN = expect(200)

# (method, path, json body, expected statuses). {buyer} {product} {order} {session} are filled in per test.
MATRIX = [
    ("GET", "/users", None, ADMIN_ONLY),
    ("GET", "/users/me", None, ANYONE_SIGNED_IN),
    ("GET", "/users/{buyer}", None, expect(403, buyer=200, admin=200)),
    ("PATCH", "/users/{buyer}", {"currentPassword": "correct-horse-1", "password": "new-password-1"},
     expect(403, buyer=200, admin=200)),
    ("DELETE", "/users/{buyer}", None, expect(403, buyer=200, admin=200)),
    ("POST", "/auth/logout", None, expect(204)),
    ("POST", "/auth/logout/all", None, ANYONE_SIGNED_IN),
    ("GET", "/auth/sessions", None, ANYONE_SIGNED_IN),
    ("DELETE", "/auth/sessions/{session}", None, expect(404, buyer=204)),
    ("POST", "/products", {"productName": "New", "cost": 5, "amountAvailable": 1},
     expect(403, seller=201, other_seller=201)),
    ("PUT", "/products/{product}", {"productName": "Cola", "cost": 40, "amountAvailable": 3},
     expect(403, seller=200)),
    ("PATCH", "/products/{product}", {"cost": 40}, expect(403, seller=200)),
    ("DELETE", "/products/{product}", None, expect(403, seller=204)),
    ("POST", "/deposit", {"coin": 50}, BUYERS_ONLY),
    ("GET", "/deposit", None, BUYERS_ONLY),
    ("POST", "/buy", {"productId": "{product}", "amount": 1}, BUYERS_ONLY),
    ("POST", "/reset", None, BUYERS_ONLY),
    ("GET", "/orders", None, ANYONE_SIGNED_IN),
    # someone else's order is "no such order" (404), as a missing one
    ("GET", "/orders/{order}", None, expect(404, buyer=200, seller=200, admin=200)),
    ("POST", "/orders/{order}/refund", None, expect(403, buyer=200, other_buyer=404)),
    ("GET", "/machine/coins", None, ADMIN_ONLY),
    ("PUT", "/machine/coins", {"5": 1, "10": 1, "20": 1, "50": 1, "100": 1}, ADMIN_ONLY),
]
PUBLIC = [
    ("GET", "/products", None),
    ("GET", "/products/{product}", None),
]


@pytest.fixture
def scene(client, accounts, set_tubes):
    """A refundable product of `seller`, an order of `buyer`, and coins in both buyers' escrow."""
    set_tubes({5: 10, 10: 10, 20: 10, 50: 10, 100: 10})
    buyer, seller = accounts["buyer"], accounts["seller"]
    product = make_product(seller, product_name="Cola", cost=35, amount_available=10, refundable=True)
    give_escrow(buyer.id, {50: 1})
    order = client.post(f"{API}/buy", json={"productId": product.id}, headers=buyer.headers).json["orderId"]
    give_escrow(buyer.id, {20: 2})
    give_escrow(accounts["other_buyer"].id, {20: 2})
    return {"buyer": buyer.id, "product": product.id, "order": order, "session": buyer.session_id}


def fill(value, scene):
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in scene:
            return scene[value[1:-1]]
        return value.format(**scene)
    if isinstance(value, dict):
        return {k: fill(v, scene) for k, v in value.items()}
    return value


def _cases():
    """Refusals change nothing, so every refused caller of a row shares one test; each success gets its own."""
    for method, path, body, table in MATRIX:
        refused = tuple(who for who in WHO if table[who] >= 400)
        yield pytest.param(method, path, body, {who: table[who] for who in refused},
                           id=f"{method} {path} refused for {','.join(refused)}")
        for who in WHO:
            if table[who] < 400:
                yield pytest.param(method, path, body, {who: table[who]}, id=f"{method} {path} as {who}")


@pytest.mark.parametrize("method, path, body, expected", list(_cases()))
def test_role_and_owner_matrix(client, accounts, scene, db_snapshot, method, path, body, expected):
    before = db_snapshot()
    for who, status in expected.items():
        account = accounts[who]
        response = client.open(f"{API}{fill(path, scene)}", method=method, json=fill(body, scene),
                               headers=account.headers if account else {})
        if status == 401:
            assert_401(response)
        elif status >= 400:
            assert_error(response, status)
        if status >= 400:
            assert db_snapshot() == before, who
        else:
            assert response.status_code == status, (who, response.get_data(as_text=True))
            if status == 204:
                assert response.data == b""
            else:
                assert response.is_json


@pytest.mark.parametrize("method, path, body", PUBLIC)
def test_catalogue_is_public(client, accounts, scene, method, path, body):
    for who in WHO:
        account = accounts[who]
        response = client.open(f"{API}{fill(path, scene)}", method=method, headers=account.headers if account else {})
        assert response.status_code == 200, who
        assert response.json


def test_registration_and_login_need_no_token(client):
    assert client.post(f"{API}/users", json={"username": "zoe", "password": "zoe-password"}).status_code == 201
    assert client.post(f"{API}/auth/login", json={"username": "zoe", "password": "zoe-password"}).status_code == 200
