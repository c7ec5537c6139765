"""Deposit and buy run in a transaction of their own, without the ORM session (hotsql.HotWrite), and
fall back to the session when they need it: the money ends up the same either way."""

import pytest
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import CoinTube, LedgerEntry, Order, User
from app.services import hotsql, tx, vending
from app.services.errors import Conflict
from app.services.hotsql import HotStatement, hot_write_transaction
from app.services.tx import write_transaction
from tests.factories import make_product

USERS = User.__table__
ADD_TO_DEPOSIT = HotStatement(
    update(USERS).where(USERS.c.id == bindparam("user_id")).values(deposit=USERS.c.deposit + bindparam("cents"))
)


@pytest.fixture
def begun(monkeypatch):
    """The kinds of transaction begun so far, in order: "hot" or "session"."""
    kinds = []
    hot_init, session_begin = hotsql.HotWrite.__init__, tx.SessionWrite.begin.__func__

    def hot(self, engine):
        kinds.append("hot")
        hot_init(self, engine)

    def session(cls):
        kinds.append("session")
        return session_begin(cls)

    monkeypatch.setattr(hotsql.HotWrite, "__init__", hot)
    monkeypatch.setattr(tx.SessionWrite, "begin", classmethod(session))
    return kinds


def deposit_of(user_id: int) -> int:
    return db.session.scalar(select(User.deposit).where(User.id == user_id).execution_options(populate_existing=True))


def ledger_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(LedgerEntry))


def test_deposit_and_buy_use_no_session_and_give_their_connection_back(app, buyer, seller, set_tubes, begun):
    set_tubes({5: 10, 10: 10, 50: 10})
    product_id = make_product(seller, product_name="Cola", cost=35, amount_available=3).id
    db.session.remove()  # as at the start of a request: no session yet
    begun.clear()

    escrow = vending.deposit(buyer.actor, 100, max_deposit=1000)
    purchase = vending.buy(buyer.actor, product_id, 1, initial_float=20)

    assert not db.session.registry.has()  # no session was created for either
    assert begun == ["hot", "hot"]
    assert db.engine.pool.checkedout() == 0
    assert (escrow.deposit, purchase.change) == (100, [50, 10, 5])
    assert deposit_of(buyer.id) == 0
    order = db.session.scalars(select(Order)).one()
    assert (order.id, order.product_name, order.total_spent) == (purchase.order.id, "Cola", 35)
    assert order.change == [50, 10, 5]
    tubes = {t.coin: t.count for t in db.session.scalars(select(CoinTube))}
    assert tubes == {5: 9, 10: 9, 20: 0, 50: 9, 100: 1}


def test_a_refusal_explained_with_the_session_runs_again_on_it_and_changes_nothing(app, buyer, seller, begun):
    product = make_product(seller, product_name="Cola", cost=35, amount_available=0)
    vending.deposit(buyer.actor, 100, max_deposit=1000)
    before = ledger_rows()

    with pytest.raises(Conflict, match="Only 0 of Cola left"):
        vending.buy(buyer.actor, product.id, 1, initial_float=20)

    assert begun == ["hot", "hot", "session"]
    db.session.commit()  # the test's own reads above
    assert db.engine.pool.checkedout() == 0
    assert deposit_of(buyer.id) == 100
    assert ledger_rows() == before


def test_a_fresh_machine_loads_its_float_through_the_session_then_sells(app, buyer, seller, begun):
    product = make_product(seller, cost=35, amount_available=3)
    vending.deposit(buyer.actor, 100, max_deposit=1000)
    assert db.session.scalar(select(func.count()).select_from(CoinTube)) == 0

    purchase = vending.buy(buyer.actor, product.id, 1, initial_float=20)

    assert begun == ["hot", "hot", "session"]
    assert purchase.change == [50, 10, 5]
    tubes = {t.coin: t.count for t in db.session.scalars(select(CoinTube))}
    assert tubes == {5: 19, 10: 19, 20: 20, 50: 19, 100: 21}
    kinds = db.session.scalars(select(LedgerEntry.kind).order_by(LedgerEntry.id)).all()
    assert kinds == ["coin_inserted", "float_loaded", "escrow_to_tubes", "change_paid"]
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1


def test_a_hot_function_that_uses_the_session_unannounced_runs_again_on_it_once(app, buyer, begun):
    @hot_write_transaction
    def add_ten():
        ADD_TO_DEPOSIT.execute({"user_id": buyer.id, "cents": 10})
        db.session.get(User, buyer.id)  # without needs_session(): found afterwards, the attempt is undone
        return tx.writing().hot

    db.session.commit()
    assert add_ten() is False
    assert begun == ["hot", "session"]
    assert db.engine.pool.checkedout() == 0  # the hot attempt's connection was given back
    assert deposit_of(buyer.id) == 10


def test_a_refusal_worked_out_with_the_session_unannounced_is_answered_from_the_session(app, buyer, begun):
    @hot_write_transaction
    def add_ten_then_refuse():
        ADD_TO_DEPOSIT.execute({"user_id": buyer.id, "cents": 10})
        if db.session.get(User, buyer.id) is not None:
            raise Conflict(f"refused on the {'hot path' if tx.writing().hot else 'session'}")

    db.session.commit()
    with pytest.raises(Conflict, match="refused on the session"):
        add_ten_then_refuse()
    assert begun == ["hot", "session"]
    assert not tx.session_in_transaction()
    assert db.engine.pool.checkedout() == 0
    assert deposit_of(buyer.id) == 0


def test_a_write_transaction_inside_a_hot_one_sends_the_hot_one_to_the_session(app, buyer, begun):
    @write_transaction
    def inner():
        ADD_TO_DEPOSIT.execute({"user_id": buyer.id, "cents": 5})

    @hot_write_transaction
    def outer():
        ADD_TO_DEPOSIT.execute({"user_id": buyer.id, "cents": 20})
        inner()
        return tx.writing()

    assert outer() is None  # the inner one ended the outer one's session transaction, as write_transaction does
    assert begun == ["hot", "session", "session"]
    assert deposit_of(buyer.id) == 25


def test_refused_deposits_leave_no_connection_out_and_the_escrow_as_it_was(app, buyer, begun):
    vending.deposit(buyer.actor, 100, max_deposit=150)
    with pytest.raises(Conflict, match="at most 150 cents"):
        vending.deposit(buyer.actor, 100, max_deposit=150)
    vending.deposit(buyer.actor, 50, max_deposit=150)
    with pytest.raises(Conflict, match="at most 150 cents"):
        vending.deposit(buyer.actor, 5, max_deposit=150)
    assert begun == ["hot", "hot", "session", "hot", "hot", "session"]  # a refusal is explained on the session
    assert db.engine.pool.checkedout() == 0
    assert deposit_of(buyer.id) == 150


def test_a_database_that_cannot_be_reached_is_sqlalchemys_error_and_a_503_when_it_is_a_disconnect(
    app, client, buyer, monkeypatch
):
    dbapi = db.engine.dialect.loaded_dbapi
    refused = dbapi.OperationalError("connection refused")
    monkeypatch.setattr(db.engine, "raw_connection", lambda: (_ for _ in ()).throw(refused))
    with pytest.raises(OperationalError) as caught:
        vending.deposit(buyer.actor, 100, max_deposit=1000)
    assert caught.value.orig is refused

    monkeypatch.setattr(db.engine.dialect, "is_disconnect", lambda *args: True)
    response = client.post("/api/v1/deposit", json={"coin": 100}, headers=buyer.headers)
    assert response.status_code == 503
    assert response.json["message"] == "The connection to the database was lost; please try again"
    monkeypatch.undo()
    assert deposit_of(buyer.id) == 0
    assert ledger_rows() == 0


def test_a_busy_sqlite_database_at_begin_runs_the_write_again_once(
    app, buyer, is_postgres, monkeypatch
):
    if is_postgres:
        pytest.skip("BEGIN IMMEDIATE is SQLite's way of beginning a write")
    original, calls = hotsql.HotWrite._send, {"n": 0}

    def busy_once(self, sql):
        calls["n"] += 1
        if calls["n"] == 1:
            raise hotsql._driver_error(self, sql, {}, self.dialect.loaded_dbapi.OperationalError("database is locked"))
        return original(self, sql)

    monkeypatch.setattr(hotsql.HotWrite, "_send", busy_once)
    db.session.commit()
    assert vending.deposit(buyer.actor, 100, max_deposit=1000).deposit == 100
    assert calls["n"] == 2
    assert db.engine.pool.checkedout() == 0
    assert deposit_of(buyer.id) == 100
