"""The ledger and `flask audit`: a clean run after real traffic, and every invariant broken on purpose."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.services.audit import run_audit
from tests.factories import deposit_coins, make_product


@pytest.fixture
def session(app, client, buyer, other_buyer, seller, admin, set_tubes):
    """A realistic mixed session through the API: every kind of money movement happens once or more."""
    set_tubes({5: 10, 10: 10, 20: 10, 50: 10, 100: 10})
    cola = make_product(seller, product_name="Cola", cost=35, amount_available=10, refundable=True).id
    crisps = make_product(seller, product_name="Crisps", cost=65, amount_available=5).id
    deposit_coins(client, buyer, 100, 20)
    assert client.post("/api/v1/buy", json={"productId": cola, "amount": 2}, headers=buyer.headers).status_code == 200
    deposit_coins(client, buyer, 50, 20)
    refund_me = client.post("/api/v1/buy", json={"productId": crisps}, headers=buyer.headers)
    assert refund_me.status_code == 200
    deposit_coins(client, other_buyer, 100)
    bought = client.post("/api/v1/buy", json={"productId": cola}, headers=other_buyer.headers)
    assert bought.status_code == 200
    refund = client.post(f"/api/v1/orders/{bought.json['orderId']}/refund", headers=other_buyer.headers)
    assert refund.status_code == 200
    patch = client.patch(f"/api/v1/products/{crisps}", json={"amountAvailable": 9}, headers=seller.headers)
    assert patch.status_code == 200
    put = client.put("/api/v1/machine/coins", json={"5": 3, "10": 12, "20": 9, "50": 10, "100": 30},
                     headers=admin.headers)
    assert put.status_code == 200, put.json
    deposit_coins(client, buyer, 10, 5)
    assert client.post("/api/v1/reset", headers=buyer.headers).status_code == 200
    deposit_coins(client, buyer, 50, 50)  # left in escrow
    return {"buyer": buyer, "cola": cola, "crisps": crisps, "order": refund_me.json["orderId"]}


def audit_breaches() -> list[str]:
    db.session.rollback()
    return run_audit().breaches


def sql(statement: str, **params) -> None:
    db.session.execute(text(statement), params)
    db.session.commit()


def test_mixed_session_is_clean_and_flask_audit_exits_0(app, session):
    report = run_audit()
    assert report.clean, report.render()
    assert report.checked["orders"] == 3 and report.checked["products"] == 2

    result = app.test_cli_runner().invoke(args=["audit"])

    assert result.exit_code == 0, result.output
    assert "audit clean" in result.output


BREAKS = {
    "deposit differs from escrow": (
        "UPDATE users SET deposit = deposit + 5 WHERE id = :buyer",
        "deposit 105 != escrowed coins worth 100",
    ),
    "escrow coins appear from nowhere": (
        "UPDATE users SET deposit = deposit + 20, escrow_20 = escrow_20 + 1 WHERE id = :buyer",
        "escrow holds",
    ),
    "a tube count changes": ("UPDATE coin_tubes SET count = count + 1 WHERE coin = 50", "the 50c tube holds"),
    "order total is not unit x amount": (
        "UPDATE orders SET total_spent = total_spent + 5 WHERE id = :order",
        "!= 65 x 1",
    ),
    "change + total != paid in": ("UPDATE orders SET paid_in = paid_in + 10 WHERE id = :order", "!= paid in"),
    "stock changed without units stocked": (
        "UPDATE products SET amount_available = amount_available - 1 WHERE id = :cola",
        "!= units stocked",
    ),
    "units stocked changed without stock": (
        "UPDATE products SET units_stocked = units_stocked + 3 WHERE id = :crisps",
        "!= units stocked",
    ),
    "a ledger row is deleted": (
        "DELETE FROM ledger_entries WHERE id = (SELECT MIN(id) FROM ledger_entries WHERE kind = 'change_paid')",
        "tube holds",
    ),
    "the running sales totals drift from the orders": (
        "UPDATE sales_periods SET units = units + 1 WHERE product_id = :cola AND span = 'day'",
        "the running totals say",
    ),
    "a day of sales is missing from the running totals": (
        "DELETE FROM sales_periods WHERE product_id = :crisps AND span = 'day'",
        "in the day of",
    ),
    "a product's month drifts from its days": (
        "UPDATE sales_periods SET gross = gross + 5 WHERE product_id = :cola AND span = 'month'",
        "the product's days say",
    ),
    "a seller's day drifts from their products' days": (
        "UPDATE sales_periods SET refunds = refunds + 5 WHERE product_id = 0 AND seller_id > 0 AND span = 'day'",
        "the seller's products say",
    ),
    "a seller's month is missing": (
        "DELETE FROM sales_periods WHERE product_id = 0 AND seller_id > 0 AND span = 'month'",
        "the running totals say 0 orders, 0 units, 0 cents gross",
    ),
    "everyone's day drifts from the sellers' days": (
        "UPDATE sales_periods SET orders = orders + 1 WHERE seller_id = 0 AND span = 'day'",
        "the sellers' days say",
    ),
    "everyone's month drifts from everyone's days": (
        "UPDATE sales_periods SET refunded_units = refunded_units + 1 WHERE seller_id = 0 AND span = 'month'",
        "everyone's days say",
    ),
    "a product's sales without a seller": (
        "UPDATE sales_periods SET seller_id = 0 WHERE product_id = :crisps AND span = 'month'",
        "have no seller",
    ),
    "a refund of part of an order": (
        "UPDATE orders SET refunded_amount = 5 WHERE status = 'refunded'",
        "refunded amount 5 of 35",
    ),
    "a refund is recorded with the wrong coins": (
        "UPDATE orders SET refund_change = '[5]' WHERE status = 'refunded'",
        "refunded 5 of 35",
    ),
}


@pytest.mark.parametrize("statement, expected", BREAKS.values(), ids=BREAKS.keys())
def test_the_audit_catches_each_breach(app, session, statement, expected, audit_may_fail):
    params = {"buyer": session["buyer"].id, "order": session["order"], "cola": session["cola"],
              "crisps": session["crisps"]}
    assert audit_breaches() == []
    sql(statement, **{k: v for k, v in params.items() if f":{k}" in statement})

    breaches = audit_breaches()

    assert any(expected in breach for breach in breaches), breaches
    result = app.test_cli_runner().invoke(args=["audit"])
    assert result.exit_code == 1
    assert "AUDIT FAILED" in result.output
    assert expected in result.output
    assert "Traceback" not in result.output


NEGATIVE = {
    "deposit": "UPDATE users SET deposit = -5 WHERE id = :buyer",
    "escrow coin": "UPDATE users SET escrow_50 = -1 WHERE id = :buyer",
    "tube count": "UPDATE coin_tubes SET count = -1 WHERE coin = 20",
    "stock": "UPDATE products SET amount_available = -1 WHERE id = :cola",
    "order amount": "UPDATE orders SET amount = 0 WHERE id = :order",
}


@pytest.mark.parametrize("statement", NEGATIVE.values(), ids=NEGATIVE.keys())
def test_the_database_refuses_negative_counts(session, db_snapshot, statement):
    params = {"buyer": session["buyer"].id, "order": session["order"], "cola": session["cola"]}
    before = db_snapshot()
    with pytest.raises(IntegrityError):
        sql(statement, **{k: v for k, v in params.items() if f":{k}" in statement})
    db.session.rollback()
    assert db_snapshot() == before
    assert audit_breaches() == []


def test_a_long_list_of_breaches_shows_the_first_fifty_and_counts_the_rest(app, session, make_account, audit_may_fail):
    for n in range(60):
        make_account("buyer", f"many{n}")
    sql("UPDATE users SET deposit = deposit + 5 WHERE username LIKE 'many%'")

    breaches = audit_breaches()

    assert sum("deposit 5 != escrowed coins worth 0" in breach for breach in breaches) == 50
    assert "... and 10 more of the kind above" in breaches
