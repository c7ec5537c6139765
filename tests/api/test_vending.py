"""Deposit, buy and reset: success bodies, refusals that change nothing."""

import pytest

from app.extensions import db
from app.models import CoinTube, Order, Product, User
from tests.api.conftest import API, assert_error, give_escrow
from tests.factories import deposit_coins, make_product

COINS = (5, 10, 20, 50, 100)


def escrow_of(user_id: int) -> tuple[int, dict[int, int]]:
    db.session.rollback()
    user = db.session.get(User, user_id)
    return user.deposit, dict(user.escrowed_coins)


def tubes() -> dict[int, int]:
    db.session.rollback()
    return {t.coin: t.count for t in db.session.query(CoinTube)}


def test_deposit_adds_one_coin_to_the_buyers_escrow(client, buyer):
    body = deposit_coins(client, buyer, 50, 50, 50)
    assert body == {"deposit": 150, "coins": {"5": 0, "10": 0, "20": 0, "50": 3, "100": 0}}

    for coin in COINS:
        deposit_coins(client, buyer, coin)
    assert escrow_of(buyer.id) == (335, {5: 1, 10: 1, 20: 1, 50: 4, 100: 1})
    response = client.get(f"{API}/deposit", headers=buyer.headers)
    assert response.status_code == 200
    assert response.json == {"deposit": 335, "coins": {"5": 1, "10": 1, "20": 1, "50": 4, "100": 1}}


@pytest.mark.parametrize("payload", [{"coin": 1}, {"coin": 2}, {"coin": 25}, {"coin": 200}, {"coin": 0},
                                     {"coin": -5}, {"coin": "50"}, {"coin": 50.0}, {"coin": True}, {"coin": None},
                                     {}, {"coin": 50, "deposit": 1000}, {"coins": [50]}])
def test_deposit_rejects_anything_but_one_of_the_five_coins(client, buyer, db_snapshot, payload):
    deposit_coins(client, buyer, 10)
    before = db_snapshot()

    assert_error(client.post(f"{API}/deposit", json=payload, headers=buyer.headers), 422)

    assert db_snapshot() == before


@pytest.mark.parametrize("app_config", [{"MAX_DEPOSIT_CENTS": 150}])
def test_deposit_over_the_limit_is_409(client, buyer, db_snapshot):
    deposit_coins(client, buyer, 100, 50)
    before = db_snapshot()

    assert_error(client.post(f"{API}/deposit", json={"coin": 5}, headers=buyer.headers), 409)

    assert db_snapshot() == before


def test_buy_body_and_database(client, buyer, seller, set_tubes):
    product = make_product(seller, product_name="Cola", cost=35, amount_available=10, refundable=True)
    set_tubes({5: 5, 10: 5, 20: 5, 50: 5, 100: 5})
    deposit_coins(client, buyer, 100)

    response = client.post(f"{API}/buy", json={"productId": product.id, "amount": 1}, headers=buyer.headers)

    assert response.status_code == 200
    body = response.json
    assert set(body) == {"orderId", "product", "amount", "totalSpent", "change", "deposit"}
    assert body["product"] == {"id": product.id, "productName": "Cola", "cost": 35}
    assert (body["amount"], body["totalSpent"], body["change"], body["deposit"]) == (1, 35, [50, 10, 5], 0)
    assert escrow_of(buyer.id) == (0, dict.fromkeys(COINS, 0))
    assert tubes() == {5: 4, 10: 4, 20: 5, 50: 4, 100: 6}
    assert db.session.get(Product, product.id).amount_available == 9
    order = db.session.get(Order, body["orderId"])
    assert (order.buyer_id, order.seller_id, order.product_id, order.product_name, order.unit_cost, order.amount,
            order.status, order.refundable, order.buyer_username, order.seller_username) == (
        buyer.id, seller.id, product.id, "Cola", 35, 1, "paid", True, "buyer", "seller")


def test_amount_defaults_to_one_and_exact_money_gives_no_change(client, buyer, seller):
    product = make_product(seller, cost=35)
    deposit_coins(client, buyer, 20, 10, 5)

    response = client.post(f"{API}/buy", json={"productId": product.id}, headers=buyer.headers)

    assert response.status_code == 200
    assert (response.json["amount"], response.json["change"], response.json["totalSpent"]) == (1, [], 35)


def test_change_with_limited_tubes_is_not_greedy(client, buyer, seller, set_tubes):
    product = make_product(seller, cost=40)
    set_tubes({50: 1, 20: 3})
    deposit_coins(client, buyer, 100)

    response = client.post(f"{API}/buy", json={"productId": product.id}, headers=buyer.headers)

    assert response.status_code == 200 and response.json["change"] == [20, 20, 20]
    assert tubes() == {5: 0, 10: 0, 20: 0, 50: 1, 100: 1}


def test_buying_the_whole_stock(client, buyer, seller):
    product = make_product(seller, cost=50, amount_available=2)
    deposit_coins(client, buyer, 100)
    response = client.post(f"{API}/buy", json={"productId": product.id, "amount": 2}, headers=buyer.headers)
    assert response.status_code == 200 and response.json["change"] == []
    assert db.session.get(Product, product.id).amount_available == 0


def test_too_little_stock_is_409(client, buyer, seller, db_snapshot):
    product = make_product(seller, cost=5, amount_available=2)
    deposit_coins(client, buyer, 20)
    before = db_snapshot()

    body = assert_error(client.post(f"{API}/buy", json={"productId": product.id, "amount": 3},
                                    headers=buyer.headers), 409)

    assert "left" in body["message"]
    assert db_snapshot() == before


def test_too_little_deposit_is_409(client, buyer, seller, db_snapshot):
    product = make_product(seller, cost=35)
    deposit_coins(client, buyer, 20, 10)
    before = db_snapshot()

    body = assert_error(client.post(f"{API}/buy", json={"productId": product.id}, headers=buyer.headers), 409)

    assert "deposit" in body["message"].lower()
    assert db_snapshot() == before


def test_buy_with_no_deposit_is_409(client, buyer, seller, db_snapshot):
    product = make_product(seller, cost=35)
    before = db_snapshot()
    assert_error(client.post(f"{API}/buy", json={"productId": product.id}, headers=buyer.headers), 409)
    assert db_snapshot() == before


def test_change_that_cannot_be_paid_is_409(client, buyer, seller, set_tubes, db_snapshot):
    product = make_product(seller, cost=40)
    set_tubes({50: 1, 20: 2})
    deposit_coins(client, buyer, 100)
    before = db_snapshot()

    body = assert_error(client.post(f"{API}/buy", json={"productId": product.id}, headers=buyer.headers), 409)

    assert "change" in body["message"]
    assert db_snapshot() == before


def test_unknown_or_deleted_product_is_404(client, buyer, seller, db_snapshot):
    product = make_product(seller, cost=5)
    client.delete(f"{API}/products/{product.id}", headers=seller.headers)
    deposit_coins(client, buyer, 5)
    before = db_snapshot()

    assert_error(client.post(f"{API}/buy", json={"productId": 99999}, headers=buyer.headers), 404)
    assert_error(client.post(f"{API}/buy", json={"productId": product.id}, headers=buyer.headers), 404)
    assert db_snapshot() == before


@pytest.mark.parametrize("payload", [
    {"amount": 0}, {"amount": -1}, {"amount": 10_001}, {"amount": True}, {"amount": 1.5}, {"amount": "1"},
    {"amount": None}, {"productId": "1"}, {"productId": 0}, {"productId": True}, {"productId": None},
    {"productId": 2**64}, {"price": 1}, {"buyerId": 2},
])
def test_buy_rejects_invalid_input(client, buyer, seller, db_snapshot, payload):
    product = make_product(seller, cost=5)
    deposit_coins(client, buyer, 100)
    before = db_snapshot()

    body = assert_error(client.post(f"{API}/buy", json={"productId": product.id, **payload},
                                    headers=buyer.headers), 422)

    assert set(body["errors"]["json"]) <= {"amount", "productId", "price", "buyerId"}
    assert db_snapshot() == before


def test_buy_needs_a_product_id(client, buyer, db_snapshot):
    before = db_snapshot()
    assert "productId" in assert_error(client.post(f"{API}/buy", json={"amount": 1}, headers=buyer.headers),
                                       422)["errors"]["json"]
    assert db_snapshot() == before


def test_reset_returns_the_coins_and_leaves_tubes_alone(client, buyer, set_tubes):
    set_tubes({5: 1})
    deposit_coins(client, buyer, 50, 5, 100, 50)

    response = client.post(f"{API}/reset", headers=buyer.headers)

    assert response.status_code == 200
    assert response.json == {"deposit": 0, "change": [100, 50, 50, 5]}
    assert escrow_of(buyer.id) == (0, dict.fromkeys(COINS, 0))
    assert tubes() == {5: 1, 10: 0, 20: 0, 50: 0, 100: 0}
    again = client.post(f"{API}/reset", headers=buyer.headers)
    assert again.status_code == 200 and again.json == {"deposit": 0, "change": []}


def test_escrow_is_per_buyer(client, buyer, other_buyer):
    deposit_coins(client, buyer, 100)
    give_escrow(other_buyer.id, {5: 2})
    assert client.get(f"{API}/deposit", headers=buyer.headers).json["deposit"] == 100
    assert client.post(f"{API}/reset", headers=other_buyer.headers).json == {"deposit": 0, "change": [5, 5]}
    assert escrow_of(buyer.id)[0] == 100
