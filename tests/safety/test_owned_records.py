"""Abuse resistance, round two (issue 22): what an account owns stays its own, and what the operators need stays.

- A deleted account's id is never given to a new one, so nobody inherits its orders, refunds, sessions,
  idempotency replies or sales (SQLite without AUTOINCREMENT reused the largest deleted id).
- A refund never depends on the seller: filling the stock to its cap after a sale does not block it.
- The last operator stays, even when every operator deletes themselves at the same moment.
"""

import uuid

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuthSession, IdempotencyKey, Order, Product, User
from tests.factories import make_product

API = "/api/v1"


def register_and_login(client, username: str, role: str) -> dict:
    password = "correct-horse-battery-9"
    response = client.post(f"{API}/users", json={"username": username, "password": password, "role": role})
    assert response.status_code == 201, response.json
    login = client.post(f"{API}/auth/login", json={"username": username, "password": password})
    assert login.status_code == 200, login.json
    return {"id": response.json["id"], "headers": {"Authorization": f"Bearer {login.json['token']}"}}


class TestIdsAreNeverReused:
    def test_a_new_buyer_shares_nothing_with_the_deleted_newest_one(self, client, seller):
        cola = make_product(seller, product_name="Cola", cost=50, amount_available=5, refundable=True)
        ann = register_and_login(client, "ann", "buyer")
        key = {"Idempotency-Key": f"deposit-{uuid.uuid4()}"}
        assert client.post(f"{API}/deposit", json={"coin": 100}, headers={**ann["headers"], **key}).status_code == 200
        bought = client.post(f"{API}/buy", json={"productId": cola.id}, headers=ann["headers"])
        assert bought.status_code == 200, bought.json
        order_id = bought.json["orderId"]
        assert client.delete(f"{API}/users/{ann['id']}", headers=ann["headers"]).status_code == 200

        bob = register_and_login(client, "bob", "buyer")

        assert bob["id"] != ann["id"]
        assert client.get(f"{API}/orders", headers=bob["headers"]).json == []
        refund = client.post(f"{API}/orders/{order_id}/refund", headers=bob["headers"])
        assert refund.status_code == 404 and refund.json["message"] == "No such order"
        assert db.session.get(Order, order_id).status == "paid"
        sessions = client.get(f"{API}/auth/sessions", headers=bob["headers"]).json
        assert len(sessions) == 1 and sessions[0]["current"]
        # the deleted buyer's idempotency reply is not bob's: the same key runs bob's own deposit
        replay = client.post(f"{API}/deposit", json={"coin": 100}, headers={**bob["headers"], **key})
        assert replay.status_code == 200 and "Idempotent-Replayed" not in replay.headers
        assert replay.json["deposit"] == 100
        assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)
                                 .where(IdempotencyKey.user_id == bob["id"])) == 1

    def test_a_new_seller_does_not_inherit_the_deleted_ones_sales(self, client, buyer):
        sam = register_and_login(client, "sam", "seller")
        made = client.post(f"{API}/products", json={"productName": "Tea", "cost": 50, "amountAvailable": 3},
                           headers=sam["headers"])
        assert made.status_code == 201
        client.post(f"{API}/deposit", json={"coin": 50}, headers=buyer.headers)
        assert client.post(f"{API}/buy", json={"productId": made.json["id"]}, headers=buyer.headers).status_code == 200
        assert client.delete(f"{API}/users/{sam['id']}", headers=sam["headers"]).status_code == 200

        sue = register_and_login(client, "sue", "seller")

        assert sue["id"] != sam["id"]
        assert client.get(f"{API}/orders", headers=sue["headers"]).json == []
        assert client.get(f"{API}/products?sellerId={sue['id']}").json == []

    def test_a_deleted_products_id_is_not_given_to_the_next(self, app, seller):
        first = make_product(seller, product_name="First")
        db.session.delete(db.session.get(Product, first.id))
        db.session.commit()
        second = make_product(seller, product_name="Second")
        assert second.id > first.id

    def test_a_deleted_sessions_id_is_not_given_to_the_next(self, client, buyer):
        assert client.post(f"{API}/auth/logout", headers=buyer.headers).status_code == 204
        login = client.post(f"{API}/auth/login", json={"username": buyer.username, "password": buyer.password})
        newest = db.session.scalar(select(func.max(AuthSession.id)))
        assert login.status_code == 200 and newest > buyer.session_id


class TestRefundsDoNotDependOnTheSeller:
    def test_a_full_stock_set_after_the_sale_does_not_block_the_refund(self, client, buyer, seller, db_snapshot):
        cola = make_product(seller, product_name="Cola", cost=50, amount_available=5, refundable=True)
        client.post(f"{API}/deposit", json={"coin": 50}, headers=buyer.headers)
        order = client.post(f"{API}/buy", json={"productId": cola.id}, headers=buyer.headers).json
        filled = client.patch(f"{API}/products/{cola.id}", json={"amountAvailable": 10_000}, headers=seller.headers)
        assert filled.status_code == 200

        refund = client.post(f"{API}/orders/{order['orderId']}/refund", headers=buyer.headers)

        assert refund.status_code == 200, refund.json
        assert refund.json["refunded"] == 50 and sum(refund.json["change"]) == 50
        product = client.get(f"{API}/products/{cola.id}").json
        assert product["amountAvailable"] == 10_001  # the returned unit still counts
        # the seller's cap still holds for what sellers type
        too_many = client.patch(f"{API}/products/{cola.id}", json={"amountAvailable": 10_001}, headers=seller.headers)
        assert too_many.status_code == 422
        db.session.rollback()
        stocked = db.session.get(Product, cola.id)
        assert stocked.units_stocked == 10_001 and stocked.amount_available == 10_001


class TestTheLastOperatorStays:
    def test_three_operators_deleting_themselves_at_once_leave_one(self, app, make_account, run_concurrently):
        operators = [make_account("admin") for _ in range(3)]

        replies = run_concurrently([
            lambda c, a=a: c.delete(f"{API}/users/{a.id}", headers=a.headers) for a in operators
        ])

        assert sorted(r.status for r in replies) == [200, 200, 409], [(r.status, r.json) for r in replies]
        refused = next(r for r in replies if r.status == 409)
        assert refused.json["message"] == "The last operator account cannot be deleted"
        left = db.session.scalars(select(User.id).where(User.role == "admin")).all()
        assert len(left) == 1

    def test_operators_deleting_each_other_at_once_leave_one(self, app, make_account, run_concurrently):
        a, b = make_account("admin"), make_account("admin")

        replies = run_concurrently([
            lambda c: c.delete(f"{API}/users/{b.id}", headers=a.headers),
            lambda c: c.delete(f"{API}/users/{a.id}", headers=b.headers),
        ])

        statuses = sorted(r.status for r in replies)
        # one deletion wins; the other is refused as the last operator, or finds its caller's session gone
        assert statuses in ([200, 401], [200, 409]), [(r.status, r.json) for r in replies]
        assert db.session.scalar(select(func.count()).select_from(User).where(User.role == "admin")) == 1
