"""Real threads, each with its own connection, hitting the same rows at the same moment.

On PostgreSQL rows are locked with SELECT ... FOR UPDATE; on SQLite (a file database) write
transactions begin with BEGIN IMMEDIATE and wait on the busy timeout. Either way no request may
see a balance or a stock level another request is about to change, and none may fail with a 500.
"""

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.data import transactions
from app.extensions import db
from app.models import LedgerEntry, Order, Product, User
from app.services import vending
from app.services.coins import coins_value, list_to_coins
from tests.factories import make_product as _make_product


class Ref:
    """A product's id, readable from any thread (ORM objects belong to the test's session)."""

    def __init__(self, product):
        self.id = product.id


def make_product(seller, **fields) -> Ref:
    return Ref(_make_product(seller, **fields))


def deposit(app, account, *coins):
    for coin in coins:
        vending.deposit(account.actor, coin, max_deposit=app.config["MAX_DEPOSIT_CENTS"])


def statuses(replies) -> list[int]:
    return sorted(r.status for r in replies)


def test_forty_buyers_ten_items_exactly_ten_sales(app, make_account, seller, run_concurrently, assert_audit_clean):
    product = make_product(seller, cost=50, amount_available=10)
    buyers = [make_account("buyer") for _ in range(40)]
    for account in buyers:
        deposit(app, account, 50)

    replies = run_concurrently([
        lambda c, a=a: c.post("/api/v1/buy", json={"productId": product.id}, headers=a.headers) for a in buyers
    ])

    assert statuses(replies) == [200] * 10 + [409] * 30, [(r.status, r.json) for r in replies]
    assert all("sold out" in r.json["message"] for r in replies if r.status == 409)
    assert db.session.get(Product, product.id).amount_available == 0
    assert db.session.scalar(select(func.count()).select_from(Order)) == 10
    winners = {r.json["orderId"] for r in replies if r.status == 200}
    assert len(winners) == 10
    # the 30 who lost keep their coins in escrow
    assert sorted(db.session.get(User, a.id).deposit for a in buyers) == [0] * 10 + [50] * 30
    assert_audit_clean()


def test_fifty_concurrent_deposits_all_count(app, client, buyer, run_concurrently, assert_audit_clean):
    replies = run_concurrently([
        lambda c: c.post("/api/v1/deposit", json={"coin": 20}, headers=buyer.headers) for _ in range(50)
    ])

    assert statuses(replies) == [200] * 50
    # every reply saw a different running total: no two requests read the same balance
    assert sorted(r.json["deposit"] for r in replies) == [20 * n for n in range(1, 51)]
    user = db.session.get(User, buyer.id)
    assert user.deposit == 50 * 20 and user.escrowed_coins[20] == 50
    rows = db.session.scalar(
        select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.user_id == buyer.id, LedgerEntry.kind == "coin_inserted"
        )
    )
    assert rows == 50
    assert_audit_clean()


def test_buy_and_reset_race_never_pays_out_twice(app, buyer, seller, is_postgres, run_concurrently,
                                                 assert_audit_clean):
    product = make_product(seller, cost=35, amount_available=1000)
    rounds = 12 if is_postgres else 6
    inserted = spent = returned = 0
    for _ in range(rounds):
        deposit(app, buyer, 100, 20)
        inserted += 120
        buy, reset = run_concurrently([
            lambda c: c.post("/api/v1/buy", json={"productId": product.id}, headers=buyer.headers),
            lambda c: c.post("/api/v1/reset", headers=buyer.headers),
        ])
        assert buy.status in (200, 409), buy.json
        assert reset.status == 200, reset.json
        if buy.status == 200:
            spent += buy.json["totalSpent"]
            returned += sum(buy.json["change"])
            assert reset.json["change"] == [], "reset paid out coins that had already bought something"
        else:
            assert "Insufficient deposit" in buy.json["message"]
            assert sorted(reset.json["change"]) == [20, 100]
        returned += sum(reset.json["change"])
        assert db.session.get(User, buyer.id).deposit == 0
    assert spent + returned == inserted
    orders = db.session.scalars(select(Order).where(Order.buyer_id == buyer.id)).all()
    assert sum(o.total_spent for o in orders) == spent
    assert sum(coins_value(list_to_coins(o.change)) for o in orders) + spent == 120 * len(orders)
    assert_audit_clean()


def test_concurrent_refunds_of_one_order_succeed_once(app, client, buyer, seller, run_concurrently,
                                                      assert_audit_clean):
    product = make_product(seller, cost=60, amount_available=5, refundable=True)
    deposit(app, buyer, 50, 10)
    bought = client.post("/api/v1/buy", json={"productId": product.id}, headers=buyer.headers)
    assert bought.status_code == 200, bought.json
    order_id = bought.json["orderId"]

    replies = run_concurrently([
        lambda c: c.post(f"/api/v1/orders/{order_id}/refund", headers=buyer.headers) for _ in range(10)
    ])

    assert statuses(replies) == [200] + [409] * 9, [(r.status, r.json) for r in replies]
    assert all("already been refunded" in r.json["message"] for r in replies if r.status == 409)
    (winner,) = [r for r in replies if r.status == 200]
    assert sum(winner.json["change"]) == 60
    assert db.session.get(Product, product.id).amount_available == 5
    refunds = db.session.scalar(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "refund_paid")
    )
    assert refunds == 1
    assert_audit_clean()


def test_buys_and_refunds_of_one_sellers_products_never_wait_on_each_other_in_turn(
        app, client, make_account, seller, set_tubes, is_postgres, run_concurrently, assert_audit_clean, monkeypatch):
    """A sale of one product and a refund of another share the seller's and everyone's sales rows: both take
    them after the tubes, so neither holds one while waiting for what the other holds (no deadlock)."""
    if not is_postgres:
        pytest.skip("SQLite runs one write transaction at a time: nothing to interleave")
    set_tubes(dict.fromkeys((5, 10, 20, 50, 100), 500))
    cola = make_product(seller, cost=35, amount_available=1000, refundable=True)
    crisps = make_product(seller, cost=65, amount_available=1000)
    refunders, shoppers = [make_account("buyer") for _ in range(8)], [make_account("buyer") for _ in range(8)]
    deadlocks = []
    contention = transactions.is_contention
    monkeypatch.setattr(transactions, "is_contention",
                        lambda error: deadlocks.append(error) or contention(error)
                        if transactions.sqlstate(error) == "40P01" else contention(error))
    for _ in range(4):
        orders = []
        for account in refunders:
            deposit(app, account, 50)
            bought = client.post("/api/v1/buy", json={"productId": cola.id}, headers=account.headers)
            orders.append(bought.json["orderId"])
        for account in shoppers:
            deposit(app, account, 100)

        replies = run_concurrently(
            [lambda c, a=a, o=o: c.post(f"/api/v1/orders/{o}/refund", headers=a.headers)
             for a, o in zip(refunders, orders, strict=True)]
            + [lambda c, a=a: c.post("/api/v1/buy", json={"productId": crisps.id}, headers=a.headers)
               for a in shoppers])

        assert statuses(replies) == [200] * 16, [(r.status, r.json) for r in replies]
    assert deadlocks == []
    assert_audit_clean()


def test_seller_edits_stock_while_buyers_buy(app, make_account, seller, is_postgres, run_concurrently,
                                             assert_audit_clean):
    product = make_product(seller, cost=25, amount_available=5)
    buyers = [make_account("buyer") for _ in range(16 if is_postgres else 10)]
    for account in buyers:
        deposit(app, account, 20, 5)
    new_stock = [3, 0, 7, 2, 6, 1]

    jobs = [
        lambda c, a=a: c.post("/api/v1/buy", json={"productId": product.id}, headers=a.headers) for a in buyers
    ] + [
        lambda c, n=n: c.patch(f"/api/v1/products/{product.id}", json={"amountAvailable": n}, headers=seller.headers)
        for n in new_stock
    ]
    replies = run_concurrently(jobs)

    buys, edits = replies[: len(buyers)], replies[len(buyers):]
    assert {r.status for r in buys} <= {200, 409}, [(r.status, r.json) for r in buys]
    assert [r.status for r in edits] == [200] * len(new_stock), [r.json for r in edits]
    fresh = db.session.get(Product, product.id)
    sold = sum(1 for r in buys if r.status == 200)
    assert fresh.amount_available >= 0
    assert fresh.amount_available + sold == fresh.units_stocked
    assert db.session.scalar(select(func.count()).select_from(Order)) == sold
    assert_audit_clean()


class FakeDeadlock(Exception):
    sqlstate = "40P01"


def deadlock() -> OperationalError:
    return OperationalError("SELECT ... FOR UPDATE", {}, FakeDeadlock("deadlock detected"))


def test_deadlock_is_retried_and_the_request_succeeds(client, buyer, monkeypatch, db_snapshot, assert_audit_clean):
    original = vending._add_coin
    calls = {"n": 0}

    def flaky(*args):
        calls["n"] += 1
        row = original(*args)  # the coin is in the row when the deadlock strikes: the retry must not count it twice
        if calls["n"] == 1:
            raise deadlock()
        return row

    monkeypatch.setattr(vending, "_add_coin", flaky)

    response = client.post("/api/v1/deposit", json={"coin": 50}, headers=buyer.headers)

    assert response.status_code == 200, response.json
    assert response.json["deposit"] == 50
    assert calls["n"] == 2
    assert db.session.get(User, buyer.id).deposit == 50
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 1
    assert_audit_clean()


def test_deadlock_every_time_is_a_503_and_changes_nothing(client, buyer, monkeypatch, db_snapshot):
    calls = {"n": 0}

    def always(*args):
        calls["n"] += 1
        raise deadlock()

    monkeypatch.setattr(vending, "_add_coin", always)
    before = db_snapshot()

    response = client.post("/api/v1/deposit", json={"coin": 50}, headers=buyer.headers)

    assert response.status_code == 503
    assert response.json["code"] == 503
    assert response.json["message"] == "The machine is busy, please try again"
    assert response.headers["Retry-After"] == "1"
    assert calls["n"] == 5
    assert db_snapshot() == before


def test_a_non_retryable_database_error_is_not_retried(app, buyer, monkeypatch):
    calls = {"n": 0}

    def broken(*args):
        calls["n"] += 1
        raise OperationalError("SELECT 1", {}, Exception("disk I/O error"))

    monkeypatch.setattr(vending, "_add_coin", broken)
    with pytest.raises(OperationalError):
        vending.deposit(buyer.actor, 50, max_deposit=app.config["MAX_DEPOSIT_CENTS"])
    assert calls["n"] == 1
