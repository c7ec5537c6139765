"""The hot money path's refusals, called directly (the API's token check would answer 401 first)."""

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import CoinTube, LedgerEntry, User
from app.services import vending
from app.services.audit import run_audit
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
    (0, True, Conflict, "Cola is sold out"),
    (3, False, NotFound, "No such product"),
])
def test_a_refused_sale_says_why_and_changes_nothing(app, buyer, seller, stock, on_sale, error, message):
    product = make_product(seller, product_name="Cola", cost=35, amount_available=stock, on_sale=on_sale)
    vending.deposit(buyer.actor, 100, max_deposit=1000)
    with pytest.raises(error, match=message):
        vending.buy(buyer.actor, product.id, 1, initial_float=20)
    assert db.session.get(User, buyer.id, populate_existing=True).deposit == 100
    assert ledger_rows() == 1


def test_a_buy_that_read_stale_tube_counts_runs_again_on_fresh_ones(app, buyer, seller, set_tubes, monkeypatch):
    """The change is worked out from counts read without a lock; if another sale took the coins
    meanwhile, the write that locks the tubes notices (no tube may go below zero) and the buy runs
    again: the change always comes from coins that are really there."""
    from app.services import machine

    product = make_product(seller, cost=35, amount_available=5)
    set_tubes({50: 0, 20: 3, 10: 1, 5: 1})
    vending.deposit(buyer.actor, 100, max_deposit=1000)
    real, reads = machine.tube_counts, []

    def stale_then_real(initial_float, *, lock):
        reads.append(lock)
        counts = real(initial_float, lock=lock)
        return {**counts, 50: 1} if len(reads) == 1 else counts  # the first read still sees a 50 sold since

    monkeypatch.setattr(vending, "tube_counts", stale_then_real)

    purchase = vending.buy(buyer.actor, product.id, 1, initial_float=20)

    assert purchase.change == [20, 20, 20, 5]  # not [50, 10, 5]: that 50 was gone
    assert reads == [False, False]
    db.session.rollback()
    assert {t.coin: t.count for t in db.session.scalars(select(CoinTube))} == {5: 0, 10: 1, 20: 0, 50: 0, 100: 1}
    assert run_audit().clean
