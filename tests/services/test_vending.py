"""The hot money path's refusals, called directly (the API's token check would answer 401 first)."""

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import LedgerEntry, User
from app.services import vending
from app.services.errors import Conflict, NotFound
from tests.factories import make_product


def vanish(account) -> None:
    db.session.delete(db.session.get(User, account.id))
    db.session.commit()


def ledger_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(LedgerEntry))


def test_a_deposit_for_an_account_deleted_meanwhile_is_refused_and_writes_nothing(app, buyer):
    vanish(buyer)
    with pytest.raises(NotFound, match="no longer exists"):
        vending.deposit(buyer.actor, 100, max_deposit=1000)
    assert ledger_rows() == 0


def test_a_deposit_over_the_limit_names_the_limit_and_keeps_the_escrow(app, buyer):
    vending.deposit(buyer.actor, 100, max_deposit=150)
    with pytest.raises(Conflict, match="at most €1.50"):
        vending.deposit(buyer.actor, 100, max_deposit=150)
    user = db.session.get(User, buyer.id, populate_existing=True)
    assert (user.deposit, user.escrowed_coins[100]) == (100, 1)
    assert ledger_rows() == 1


def test_a_purchase_for_an_account_deleted_meanwhile_is_refused(app, buyer, seller):
    product = make_product(seller, cost=35, amount_available=3)
    vanish(buyer)
    with pytest.raises(NotFound, match="no longer exists"):
        vending.buy(buyer.actor, product.id, 1, initial_float=20)
    assert ledger_rows() == 0


@pytest.mark.parametrize(("stock", "on_sale", "error", "message"), [
    (0, True, Conflict, "Only 0 of Cola left"),
    (3, False, NotFound, "No such product"),
])
def test_a_refused_sale_says_why_and_changes_nothing(app, buyer, seller, stock, on_sale, error, message):
    product = make_product(seller, product_name="Cola", cost=35, amount_available=stock, on_sale=on_sale)
    vending.deposit(buyer.actor, 100, max_deposit=1000)
    with pytest.raises(error, match=message):
        vending.buy(buyer.actor, product.id, 1, initial_float=20)
    assert db.session.get(User, buyer.id, populate_existing=True).deposit == 100
    assert ledger_rows() == 1
