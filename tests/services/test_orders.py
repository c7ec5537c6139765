"""orders service: visibility and refund rules without HTTP."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import CoinTube, Order, Product
from app.services import orders, vending
from app.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.services.sales import NO_SALES, Totals
from tests.api.conftest import give_escrow
from tests.factories import make_product

FLOAT = 20


def buy(account, product, coins, amount=1):
    give_escrow(account.id, coins)
    return vending.buy(account.actor, product.id, amount, initial_float=FLOAT).order.id


def refund(account, order_id, window=900):
    return orders.refund(account.actor, order_id, window_seconds=window, initial_float=FLOAT)


@pytest.fixture
def world(app, buyer, other_buyer, seller, other_seller, set_tubes):
    set_tubes({5: 5, 10: 5, 20: 5, 50: 5, 100: 5})
    cola = make_product(seller, product_name="Cola", cost=35, refundable=True)
    water = make_product(other_seller, product_name="Water", cost=25)
    return {
        "cola": cola,
        "mine": buy(buyer, cola, {50: 1}),
        "theirs": buy(other_buyer, water, {20: 1, 5: 1}),
    }


def ids(actor):
    return [o.id for o in db.session.scalars(orders.visible_orders(actor))]


def test_visibility_by_role(world, buyer, other_buyer, seller, other_seller, admin):
    assert ids(buyer.actor) == [world["mine"]]
    assert ids(other_buyer.actor) == [world["theirs"]]
    assert ids(seller.actor) == [world["mine"]]
    assert ids(other_seller.actor) == [world["theirs"]]
    assert ids(admin.actor) == [world["theirs"], world["mine"]]


def test_get_order(world, buyer, seller, admin, other_buyer, other_seller):
    for account in (buyer, seller, admin):
        assert orders.get_order(account.actor, world["mine"]).id == world["mine"]
    for account in (other_buyer, other_seller):  # someone else's order is "no such order", like a missing one
        with pytest.raises(NotFound, match="No such order"):
            orders.get_order(account.actor, world["mine"])
    with pytest.raises(NotFound, match="No such order"):
        orders.get_order(admin.actor, 99999)


def test_refund_refusal_reasons(world, buyer, other_buyer):
    order = db.session.get(Order, world["mine"])
    assert orders.refund_refusal(order, buyer.id, 900) is None
    assert "Only the buyer" in orders.refund_refusal(order, other_buyer.id, 900)
    assert orders.refund_refusal(order, buyer.id, 0) == "Refunds are possible for 0 seconds after purchase only"
    assert "not refundable" in orders.refund_refusal(db.session.get(Order, world["theirs"]), other_buyer.id, 900)


def test_refund_pays_back_and_restocks(world, buyer):
    result = refund(buyer, world["mine"])
    assert (result.order.status, result.order.refunded_amount, result.change) == ("refunded", 35, [20, 10, 5])
    db.session.rollback()
    assert db.session.get(Product, world["cola"].id).amount_available == 10
    assert db.session.get(Order, world["mine"]).refunded_at is not None
    with pytest.raises(Conflict):
        refund(buyer, world["mine"])


def test_refund_refusals(world, buyer, other_buyer, seller, set_tubes):
    with pytest.raises(Forbidden):
        refund(seller, world["mine"])
    with pytest.raises(NotFound, match="No such order"):
        refund(other_buyer, world["mine"])
    with pytest.raises(NotFound, match="No such order"):
        refund(buyer, 99999)
    with pytest.raises(Conflict):
        refund(other_buyer, world["theirs"])
    with pytest.raises(Conflict):
        refund(buyer, world["mine"], window=0)
    db.session.execute(update(Order).values(created_at=datetime.now(UTC) - timedelta(hours=1)))
    db.session.commit()
    with pytest.raises(Conflict):
        refund(buyer, world["mine"])
    db.session.rollback()
    assert db.session.get(Order, world["mine"]).status == "paid"


def test_refund_refused_when_tubes_cannot_pay(world, buyer, set_tubes):
    set_tubes({100: 3})
    with pytest.raises(Conflict):
        refund(buyer, world["mine"])
    db.session.rollback()
    assert {t.coin: t.count for t in db.session.query(CoinTube)} == {5: 0, 10: 0, 20: 0, 50: 0, 100: 3}
    assert db.session.get(Order, world["mine"]).status == "paid"


def test_the_running_sales_totals_follow_each_buy_and_refund(world, buyer, seller, other_seller, admin):
    water = db.session.get(Order, world["theirs"]).product_id
    today = datetime.now(UTC).date()
    buy(buyer, world["cola"], {100: 1}, amount=2)
    assert orders.order_totals(seller.actor) == Totals(2, 3, 105, 0, 0)

    refund(buyer, world["mine"])

    # the refunded order stays in the gross, its refund comes off: net is what stands
    everything = Totals(orders=2, units=3, gross=105, refunds=35, refunded_orders=1)
    assert orders.order_totals(seller.actor) == everything and everything.net == 70
    assert orders.order_totals(seller.actor, orders.OrderFilters(status="paid")) == Totals(1, 2, 70, 0, 0)
    assert orders.order_totals(seller.actor, orders.OrderFilters(status="refunded")) == Totals(1, 1, 35, 35, 1)
    summary = orders.sales_summary(seller.actor, orders.OrderFilters(since=today, until=today), today=today)
    assert (summary.totals, summary.span) == (everything, "day")
    assert [(p.first_day, p.totals) for p in summary.series] == [(today, everything)]
    assert [(p.product_id, p.product_name, p.totals) for p in summary.by_product] == [
        (world["cola"].id, "Cola", everything)]
    assert orders.order_totals(admin.actor, orders.OrderFilters(status="refunded")) == Totals(1, 1, 35, 35, 1)
    assert orders.order_totals(admin.actor) == Totals(3, 4, 130, 35, 1)
    assert orders.order_totals(admin.actor, orders.OrderFilters(product_id=water)) == Totals(1, 1, 25, 0, 0)
    assert orders.order_totals(other_seller.actor, orders.OrderFilters(since=today + timedelta(days=1))) == NO_SALES
    assert orders.order_totals(other_seller.actor, orders.OrderFilters(seller_id=seller.id)) == NO_SALES
    assert orders.order_totals(buyer.actor) == everything  # summed from the buyer's orders, the same definition
    assert orders.order_totals(buyer.actor, orders.OrderFilters(status="paid")) == Totals(1, 2, 70, 0, 0)
    assert orders.order_totals(buyer.actor, orders.OrderFilters(status="refunded")) == Totals(1, 1, 35, 35, 1)


def test_a_summary_window_must_not_end_before_it_starts(world, seller):
    today = datetime.now(UTC).date()
    with pytest.raises(InvalidInput, match="end date") as refused:
        orders.sales_summary(seller.actor, orders.OrderFilters(since=today, until=today - timedelta(days=1)),
                             today=today)
    assert refused.value.field == "until"


def test_keyset_pages_and_the_export_see_every_order_once(world, buyer, admin):
    for _ in range(4):
        buy(buyer, world["cola"], {50: 1})
    every = ids(admin.actor)
    walked, cursor = [], None
    while True:
        page = orders.order_page(admin.actor, cursor=cursor, size=2)
        walked += [o.id for o in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert walked == every == [o.id for o in orders.export_orders(admin.actor)]
    assert [o.id for o in orders.export_orders(buyer.actor, orders.OrderFilters(status="paid"))] == ids(buyer.actor)
    with pytest.raises(InvalidInput, match="cursor"):
        orders.order_page(admin.actor, cursor="bm90LWEtY3Vyc29y")
