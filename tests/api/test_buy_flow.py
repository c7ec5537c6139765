"""The core story: insert coins, buy, get change from the tubes, reset."""

from app.extensions import db
from app.models import CoinTube, LedgerEntry, Order, User
from tests.factories import deposit_coins, make_product


def tubes() -> dict[int, int]:
    db.session.rollback()
    return {t.coin: t.count for t in db.session.query(CoinTube)}


def test_buy_two_pays_change_with_fewest_coins(client, buyer, seller, set_tubes):
    product = make_product(seller, product_name="Cola", cost=35, amount_available=10)
    set_tubes({5: 2, 10: 2, 20: 2, 50: 2, 100: 2})
    deposit_coins(client, buyer, 100, 20, 5)

    response = client.post("/api/v1/buy", json={"productId": product.id, "amount": 2}, headers=buyer.headers)

    assert response.status_code == 200
    body = response.json
    assert body["product"] == {"id": product.id, "productName": "Cola", "cost": 35}
    assert body["amount"] == 2 and body["totalSpent"] == 70 and body["deposit"] == 0
    assert body["change"] == [50, 5]
    # the inserted coins went into the tubes, the change came out of them
    assert tubes() == {5: 2 + 1 - 1, 10: 2, 20: 2 + 1, 50: 2 - 1, 100: 2 + 1}
    user = db.session.get(User, buyer.id)
    assert user.deposit == 0 and sum(user.escrowed_coins.values()) == 0
    order = db.session.get(Order, body["orderId"])
    assert (order.total_spent, order.paid_in, order.change) == (70, 125, [50, 5])
    kinds = sorted(e.kind for e in db.session.query(LedgerEntry).filter_by(order_id=order.id))
    assert kinds == ["change_paid", "escrow_to_tubes"]


def test_change_uses_coins_just_inserted(client, buyer, seller, set_tubes):
    product = make_product(seller, cost=50)
    set_tubes({})  # empty tubes: change can only come from the buyer's own coins
    deposit_coins(client, buyer, 50, 20, 10)

    response = client.post("/api/v1/buy", json={"productId": product.id}, headers=buyer.headers)

    assert response.status_code == 200, response.json
    assert response.json["change"] == [20, 10]


def test_refused_when_change_cannot_be_paid_and_nothing_changes(client, buyer, seller, set_tubes, db_snapshot):
    product = make_product(seller, cost=35)
    set_tubes({100: 5})
    deposit_coins(client, buyer, 100)
    before = db_snapshot()

    response = client.post("/api/v1/buy", json={"productId": product.id}, headers=buyer.headers)

    assert response.status_code == 409
    assert response.json["message"] == ("The machine cannot give €0.65 in change right now, so nothing was bought: "
                                        "use coin return to get your coins back, then insert exactly €0.35")
    assert db_snapshot() == before


def test_reset_returns_exactly_the_coins_inserted(client, buyer):
    deposit_coins(client, buyer, 100, 5, 5, 20)

    response = client.post("/api/v1/reset", headers=buyer.headers)

    assert response.status_code == 200
    assert response.json == {"deposit": 0, "change": [100, 20, 5, 5]}
    assert db.session.get(User, buyer.id).deposit == 0


def test_a_price_changed_since_the_buyer_looked_is_409_and_changes_nothing(client, buyer, seller, set_tubes,
                                                                          db_snapshot):
    """expectedCost pins the price the buyer saw: a seller's change in between buys nothing."""
    product = make_product(seller, product_name="Cola", cost=5, amount_available=10)
    set_tubes({5: 5, 10: 5, 20: 5, 50: 5, 100: 5})
    deposit_coins(client, buyer, 100)
    changed = client.patch(f"/api/v1/products/{product.id}", json={"cost": 100}, headers=seller.headers)
    assert changed.status_code == 200
    before = db_snapshot()

    response = client.post("/api/v1/buy", json={"productId": product.id, "expectedCost": 5}, headers=buyer.headers)

    assert response.status_code == 409
    assert response.json["message"] == "The price changed: Cola now costs €1.00; nothing was bought"
    assert response.json["errors"] == {"json": {"expectedCost": ["The current price is 100 cents (€1.00)"]}}
    assert db_snapshot() == before
    agreed = client.post("/api/v1/buy", json={"productId": product.id, "expectedCost": 100}, headers=buyer.headers)
    assert agreed.status_code == 200 and agreed.json["totalSpent"] == 100 and agreed.json["change"] == []
