"""The sales figures read from the aggregate equal the orders' own, refunds included, for every range (whole
months, the days at the ends, open ends), every level (everyone, a seller, a product) and every status."""

from datetime import UTC, date, datetime, timedelta
from itertools import product as pairs

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Order
from app.services import audit, orders, sales, vending
from app.services.sales import Totals
from tests.api.conftest import give_escrow
from tests.factories import make_product

FLOAT = 20
# When each sale was made (UTC), across month and year ends; "R": refunded a minute later.
SOLD = [
    ("2025-09-30 23:59:59", "Cola", "R"), ("2025-10-01 00:00:00", "Tea", ""), ("2025-10-01 09:00:00", "Water", ""),
    ("2025-10-15 12:00:00", "Cola", ""), ("2025-10-31 23:00:00", "Cola", "R"), ("2025-11-01 00:30:00", "Water", ""),
    ("2025-11-30 12:00:00", "Tea", ""), ("2025-12-01 08:00:00", "Cola", "R"), ("2025-12-31 23:59:00", "Water", ""),
    ("2026-01-01 00:00:30", "Cola", ""), ("2026-02-28 18:00:00", "Tea", ""),
]
EDGES = [None, date(2025, 9, 30), date(2025, 10, 1), date(2025, 10, 2), date(2025, 10, 31), date(2025, 11, 1),
         date(2025, 11, 30), date(2025, 12, 1), date(2025, 12, 31), date(2026, 1, 1), date(2026, 2, 28),
         date(2026, 3, 1)]


@pytest.fixture
def history(app, buyer, seller, other_seller, set_tubes, monkeypatch):
    set_tubes({5: 50, 10: 50, 20: 50, 50: 50, 100: 50})
    products = {"Cola": make_product(seller, product_name="Cola", cost=35, refundable=True),
                "Tea": make_product(seller, product_name="Tea", cost=50),
                "Water": make_product(other_seller, product_name="Water", cost=25)}
    for n, (at, name, refunded) in enumerate(SOLD):
        bought_at = datetime.fromisoformat(at).replace(tzinfo=UTC)
        give_escrow(buyer.id, {100: 2})
        monkeypatch.setattr(vending, "utcnow", lambda bought_at=bought_at: bought_at)
        order = vending.buy(buyer.actor, products[name].id, 1 + n % 2, initial_float=FLOAT).order
        if refunded:
            monkeypatch.setattr(orders, "utcnow", lambda bought_at=bought_at: bought_at + timedelta(minutes=1))
            orders.refund(buyer.actor, order.id, window_seconds=900, initial_float=FLOAT)
    monkeypatch.undo()
    db.session.rollback()
    return {name: p.id for name, p in products.items()}


def from_orders(since, until, *, seller_id=None, product_id=None, status=None) -> Totals:
    """The figures of the orders themselves, summed in Python."""
    db.session.rollback()
    found = [o for o in db.session.scalars(select(Order))
             if (since is None or o.created_at.date() >= since) and (until is None or o.created_at.date() <= until)
             and seller_id in (None, o.seller_id) and product_id in (None, o.product_id)
             and status in (None, o.status)]
    return Totals(len(found), sum(o.amount for o in found), sum(o.total_spent for o in found),
                  sum(o.refunded_amount for o in found), sum(o.status == "refunded" for o in found))


def test_every_range_level_and_status_agrees_with_the_orders(history, seller, other_seller):
    levels = [{}, {"seller_id": seller.id}, {"seller_id": other_seller.id}, {"product_id": history["Cola"]},
              {"seller_id": seller.id, "product_id": history["Tea"]}]
    checked = 0
    for since, until in pairs(EDGES, EDGES):
        for level in levels:
            for status in (None, "paid", "refunded"):
                expected = from_orders(since, until, status=status, **level)
                got = sales.totals(since=since, until=until, status=status, **level)
                assert got == expected, (since, until, level, status)
                checked += expected.orders
    assert checked > 1000  # the ranges hold orders, not only empty sets
    assert sales.totals() == Totals(orders=11, units=16, gross=580, refunds=140, refunded_orders=3)
    assert audit.run_audit().clean


def test_a_product_of_another_seller_or_the_id_of_everyone_has_no_sales(history, seller, other_seller):
    assert sales.totals(seller_id=other_seller.id, product_id=history["Cola"]) == sales.NO_SALES
    assert sales.totals(seller_id=0) == sales.totals(product_id=0) == sales.NO_SALES
    assert sales.by_product(seller_id=0, since=None, until=None) == []


@pytest.mark.parametrize("span", ["day", "month"])
def test_the_series_adds_up_to_the_totals_with_every_period_in_it(history, seller, span):
    since, until = date(2025, 9, 30), date(2026, 1, 1)

    series = sales.series(seller_id=seller.id, product_id=None, since=since, until=until, span=span)

    firsts = [p.first_day for p in series]
    assert firsts[0] == (since if span == "day" else date(2025, 9, 1)) and len(set(firsts)) == len(firsts)
    assert len(series) == ((until - since).days + 1 if span == "day" else 5)
    total = [sum(getattr(p.totals, name) for p in series) for name in ("orders", "units", "gross", "refunds")]
    assert total == list(vars(from_orders(since, until, seller_id=seller.id)).values())[:4]
    if span == "month":  # the end months count their days in the range only
        assert [p.totals.orders for p in series] == [1, 3, 1, 1, 1]


def test_per_product_figures_best_net_first(history, seller):
    rows = sales.by_product(seller_id=seller.id, since=date(2025, 10, 1), until=date(2025, 12, 31))

    assert [(p.product_name, p.totals) for p in rows] == [
        ("Tea", from_orders(date(2025, 10, 1), date(2025, 12, 31), product_id=history["Tea"])),
        ("Cola", from_orders(date(2025, 10, 1), date(2025, 12, 31), product_id=history["Cola"])),
    ]
    assert rows[0].totals.net > rows[1].totals.net
