"""Low-stock and low-tube warning levels."""

import pytest

from app.services import operator, stock
from app.services.errors import Forbidden, InvalidInput
from tests.factories import make_product


def test_low_stock_is_in_stock_at_or_below_the_sellers_level(app, seller, other_seller, db_snapshot):
    product = make_product(seller, amount_available=3)
    assert product.low_stock_at == 3 and stock.is_low(product)
    assert stock.set_low_stock_at(seller.actor, product.id, 2).low_stock_at == 2
    assert not stock.is_low(product)
    product.amount_available = 0
    assert not stock.is_low(product)  # sold out is not "low"
    before = db_snapshot()
    with pytest.raises(InvalidInput, match="from 0 to 10000"):
        stock.set_low_stock_at(seller.actor, product.id, 10_001)
    with pytest.raises(Forbidden):
        stock.set_low_stock_at(other_seller.actor, product.id, 1)
    assert db_snapshot() == before


def test_tube_levels_on_a_fresh_install_and_after_the_operator_sets_them(app, admin, buyer):
    assert [(t.coin, t.count, t.low_at, t.low) for t in operator.tube_states(3)] == [
        (5, 3, 5, True), (10, 3, 5, True), (20, 3, 5, True), (50, 3, 5, True), (100, 3, 5, True)]
    operator.set_low_levels(admin.actor, {5: 2, 10: 3, 20: 0, 50: 1, 100: 9}, initial_float=3)
    assert [t.low for t in operator.tube_states(3)] == [False, True, False, False, True]
    with pytest.raises(InvalidInput):
        operator.set_low_levels(admin.actor, {5: -1, 10: 3, 20: 0, 50: 1, 100: 9}, initial_float=3)
    with pytest.raises(Forbidden):
        operator.set_low_levels(buyer.actor, {5: 1, 10: 3, 20: 0, 50: 1, 100: 9}, initial_float=3)
