"""Helpers for the API tests: error-shape checks, a product/order world for the role matrix."""

import json
from http import HTTPStatus

import pytest

from app.services import vending
from app.services.policy import Actor
from tests.factories import make_product

API = "/api/v1"


def assert_error(response, status: int) -> dict:
    """A JSON error in flask-smorest's shape with this status; returns the body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == status
    assert body["status"] == HTTPStatus(status).phrase
    assert set(body) <= {"code", "status", "message", "errors"}
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "<html" not in text.lower()
    return body


def assert_401(response) -> dict:
    body = assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    return body


def pagination(response) -> dict:
    return json.loads(response.headers["X-Pagination"])


def give_escrow(user_id: int, coins: dict[int, int]) -> None:
    """Put coins into a buyer's escrow (for setting up a scene), as the machine does: with ledger rows."""
    buyer = Actor(user_id, "buyer")
    for coin, n in coins.items():
        for _ in range(n):
            vending.deposit(buyer, coin, max_deposit=10**9)


@pytest.fixture
def accounts(buyer, other_buyer, seller, other_seller, admin):
    return {
        "anonymous": None,
        "buyer": buyer,
        "other_buyer": other_buyer,
        "seller": seller,
        "other_seller": other_seller,
        "admin": admin,
    }


@pytest.fixture
def cola(seller):
    return make_product(seller, product_name="Cola", cost=35, amount_available=10, refundable=True)


def buy_via_api(client, account, product, *coins: int, amount: int = 1) -> dict:
    for coin in coins:
        response = client.post(f"{API}/deposit", json={"coin": coin}, headers=account.headers)
        assert response.status_code == 200, response.json
    response = client.post(f"{API}/buy", json={"productId": product.id, "amount": amount}, headers=account.headers)
    assert response.status_code == 200, response.json
    return response.json
