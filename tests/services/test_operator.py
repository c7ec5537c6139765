"""The operator's services: exact-change warning, collect and refill (audited), tube history, user search."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import CoinTube, LedgerEntry
from app.services import audit, operator, vending
from app.services.coins import make_change
from app.services.errors import Conflict, Forbidden, InvalidInput
from tests.factories import make_product

FLOAT = 20


def tubes() -> dict[int, int]:
    db.session.rollback()
    return {t.coin: t.count for t in db.session.scalars(select(CoinTube))}


def test_change_amounts_cover_every_deposit_up_to_the_dearest_price_and_one_coin_over():
    assert operator.change_amounts(None) == range(0)
    assert list(operator.change_amounts((35, 35))) == list(range(5, 96, 5))
    assert list(operator.change_amounts((25, 150))) == list(range(5, 126, 5))


@pytest.mark.parametrize(
    ("counts", "short"),
    [
        ({5: 20, 10: 20, 20: 20, 50: 20, 100: 20}, None),
        ({5: 0, 10: 20, 20: 20, 50: 20, 100: 20}, 5),
        ({5: 1, 10: 0, 20: 0, 50: 0, 100: 0}, 10),
        ({5: 1, 10: 1, 20: 0, 50: 0, 100: 0}, 20),
        ({5: 1, 10: 2, 20: 1, 50: 1, 100: 0}, None),
    ],
)
def test_exact_change_only_names_the_smallest_change_the_tubes_cannot_pay(app, seller, set_tubes, counts, short):
    make_product(seller, cost=35, amount_available=5)
    set_tubes(counts)
    assert operator.exact_change_only(FLOAT) == short
    # the same verdict as make_change itself, the one change rule
    assert short == next((a for a in operator.change_amounts((35, 35)) if make_change(a, counts) is None), None)


def test_exact_change_only_is_about_products_that_can_be_bought(app, seller, set_tubes):
    set_tubes({})
    assert operator.exact_change_only(FLOAT) is None  # nothing on sale: no change to pay
    make_product(seller, cost=35, amount_available=0)
    assert operator.exact_change_only(FLOAT) is None  # sold out
    make_product(seller, cost=40, amount_available=1)
    assert operator.exact_change_only(FLOAT) == 5


def test_a_fresh_install_counts_its_float(app, seller):
    make_product(seller, cost=35)
    assert tubes() == {}
    assert operator.read_tubes(FLOAT) == dict.fromkeys((5, 10, 20, 50, 100), FLOAT)
    assert operator.exact_change_only(FLOAT) is None


def test_collect_empties_down_to_the_float_and_the_audit_balances(app, admin, set_tubes):
    set_tubes({5: 30, 10: 5, 20: 12, 50: 3, 100: 40})
    done = operator.collect_coins(admin.actor, {5: 10, 10: 10, 20: 10, 50: 10, 100: 10}, initial_float=FLOAT)
    assert done.coins == {5: 20, 10: 0, 20: 2, 50: 0, 100: 30}
    assert done.cents == 100 + 40 + 3000
    assert tubes() == {5: 10, 10: 5, 20: 10, 50: 3, 100: 10}
    last = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id.desc())).first()
    assert (last.kind, last.user_id, last.coins) == ("tubes_set", admin.id, {5: -20, 10: 0, 20: -2, 50: 0, 100: -30})
    assert audit.run_audit().clean


def test_refill_adds_coins_and_the_audit_balances(app, admin, set_tubes):
    set_tubes({5: 1})
    done = operator.refill(admin.actor, {5: 4, 10: 10, 20: 0, 50: 2, 100: 0}, initial_float=FLOAT)
    assert done.cents == 20 + 100 + 100
    assert tubes() == {5: 5, 10: 10, 20: 0, 50: 2, 100: 0}
    assert audit.run_audit().clean


@pytest.mark.parametrize(
    ("call", "counts", "error", "message"),
    [
        ("refill", {5: 0, 10: 0, 20: 0, 50: 0, 100: 0}, InvalidInput, "Add at least one coin"),
        ("refill", {5: -1, 10: 0, 20: 0, 50: 0, 100: 0}, InvalidInput, "whole numbers from 0 to 1000000"),
        ("refill", {5: 1_000_000, 10: 0, 20: 0, 50: 0, 100: 0}, InvalidInput, "at most 1000000 coins"),
        ("refill", {5: 1}, InvalidInput, "whole numbers"),
        ("collect_coins", {5: 50, 10: 50, 20: 50, 50: 50, 100: 50}, Conflict, "Nothing to collect"),
        ("collect_coins", {5: "2", 10: 0, 20: 0, 50: 0, 100: 0}, InvalidInput, "The float must be whole numbers"),
    ],
)
def test_refused_collects_and_refills_change_nothing(app, admin, set_tubes, db_snapshot, call, counts, error,
                                                       message):
    set_tubes({5: 5, 10: 5, 20: 5, 50: 5, 100: 5})
    before = db_snapshot()
    with pytest.raises(error, match=message):
        getattr(operator, call)(admin.actor, counts, initial_float=FLOAT)
    assert db_snapshot() == before


def test_only_the_operator_collects_refills_and_reads_the_history(app, seller, buyer):
    for account in (seller, buyer):
        with pytest.raises(Forbidden):
            operator.collect_coins(account.actor, dict.fromkeys((5, 10, 20, 50, 100), 0), initial_float=FLOAT)
        with pytest.raises(Forbidden):
            operator.refill(account.actor, dict.fromkeys((5, 10, 20, 50, 100), 1), initial_float=FLOAT)
        with pytest.raises(Forbidden):
            operator.tube_history(account.actor)
        with pytest.raises(Forbidden):
            operator.find_users(account.actor)


def test_tube_history_from_the_ledger_newest_first_with_signed_moves(app, admin, buyer, seller, set_tubes):
    product = make_product(seller, cost=35)
    set_tubes({5: 1, 50: 21})
    operator.refill(admin.actor, {5: 2, 10: 0, 20: 0, 50: 0, 100: 0}, initial_float=FLOAT)
    vending.deposit(buyer.actor, 100, max_deposit=1000)
    vending.buy(buyer.actor, product.id, 1, initial_float=FLOAT)
    operator.collect_coins(admin.actor, {5: 0, 10: 0, 20: 0, 50: 0, 100: 0}, initial_float=FLOAT)

    page = operator.tube_history(admin.actor)
    labels = [m.label for m in page.items]
    assert labels == ["Collected into the cash box", "Sale: change out", "Sale: coins in", "Refilled",
                      "Set by the operator", "Float loaded"]
    change_out = page.items[1]
    assert change_out.deltas == {5: -3, 10: 0, 20: 0, 50: -1, 100: 0} and change_out.cents == -65
    assert page.items[2].deltas[100] == 1 and page.items[2].order_id == change_out.order_id
    assert page.items[0].username == "operator" and page.items[0].cents == -(20 * 50 + 100)
    assert [m.label for m in operator.tube_history(admin.actor, operator_only=True).items] == [
        "Collected into the cash box", "Refilled", "Set by the operator", "Float loaded"]

    first = operator.tube_history(admin.actor, size=4)
    assert len(first.items) == 4 and first.older == first.items[-1].id
    rest = operator.tube_history(admin.actor, size=4, before=first.older)
    assert [m.label for m in rest.items] == ["Set by the operator", "Float loaded"] and rest.older is None


def test_find_users_by_part_of_the_name_any_case_and_role(app, admin, make_account):
    for name in ("anna_b", "ANNIKA", "bob", "jo.hn"):
        make_account("buyer", name)
    make_account("seller", "annette")

    def names(**kw):
        return [u.username for u in db.session.scalars(operator.find_users(admin.actor, **kw))]

    assert names(q="ann") == ["anna_b", "ANNIKA", "annette"]
    assert names(q="ann", role="seller") == ["annette"]
    assert names(q="%") == []  # not a wildcard
    assert names(q="_") == ["anna_b"]
    assert "operator" in names()
    with pytest.raises(InvalidInput, match="Role must be"):
        operator.find_users(admin.actor, role="owner")
