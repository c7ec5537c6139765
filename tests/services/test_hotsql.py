"""HotStatement: Core statements sent straight to the driver inside the session's transaction."""

import os
import socket
from datetime import datetime

import psycopg
import pytest
from psycopg import pq
from psycopg.adapt import PyFormat
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError, InvalidRequestError

from app.extensions import db
from app.models import LedgerEntry, Order, User
from app.models._types import utcnow
from app.services import cache as read_cache
from app.services import tx
from app.services.errors import Conflict, Unavailable
from app.services.hotsql import HotStatement
from app.services.tx import write_transaction

USERS = User.__table__
ORDERS = Order.__table__

READ_USER = HotStatement(
    select(USERS.c.id, USERS.c.username, USERS.c.deposit, USERS.c.created_at).where(USERS.c.id == bindparam("user_id"))
)
SET_DEPOSIT = HotStatement(
    update(USERS).where(USERS.c.id == bindparam("user_id")).values(deposit=bindparam("deposit"))
)
INSERT_ORDER = HotStatement(
    insert(ORDERS)
    .values({c: bindparam(c.key) for c in ORDERS.columns if not c.primary_key})
    .returning(ORDERS.c.id, ORDERS.c.change, ORDERS.c.refundable, ORDERS.c.created_at)
)


def order_values(buyer_id: int, **changes) -> dict:
    values = dict(
        buyer_id=buyer_id, seller_id=None, product_id=1, buyer_username="b", seller_username=None,
        product_name="Cola", unit_cost=35, amount=1, total_spent=35, paid_in=100, change=[50, 10, 5],
        status="paid", refunded_amount=0, refund_change=None, refundable=True, created_at=utcnow(), refunded_at=None,
    )
    values.update(changes)
    return values


def test_rows_are_named_and_typed_like_the_columns(app, buyer):
    row = READ_USER.first({"user_id": buyer.id})
    assert (row.id, row.username, row.deposit) == (buyer.id, buyer.username, 0)
    assert isinstance(row.created_at, datetime) and row.created_at.tzinfo is not None  # UTCDateTime's processor
    assert READ_USER.first({"user_id": buyer.id + 1000}) is None


def test_bind_and_result_processors_round_trip_json_booleans_and_times(app, buyer):
    when = utcnow()
    row = INSERT_ORDER.first(order_values(buyer.id, created_at=when))
    assert row.change == [50, 10, 5]
    assert row.refundable is True
    assert row.created_at == when.replace(microsecond=row.created_at.microsecond) and row.created_at.tzinfo
    stored = db.session.get(Order, row.id)
    assert (stored.change, stored.refundable, stored.buyer_id) == ([50, 10, 5], True, buyer.id)


def test_statements_commit_and_roll_back_with_the_session(app, buyer):
    SET_DEPOSIT.execute({"user_id": buyer.id, "deposit": 40})
    db.session.rollback()
    assert db.session.scalar(select(User.deposit).where(User.id == buyer.id)) == 0

    SET_DEPOSIT.execute({"user_id": buyer.id, "deposit": 40})
    db.session.commit()
    assert db.session.scalar(select(User.deposit).where(User.id == buyer.id)) == 40


def test_a_missing_parameter_is_refused_before_anything_is_sent(app, buyer):
    with pytest.raises(InvalidRequestError, match="deposit"):
        SET_DEPOSIT.execute({"user_id": buyer.id})
    db.session.rollback()
    assert db.session.scalar(select(User.deposit).where(User.id == buyer.id)) == 0


def test_driver_errors_come_out_as_sqlalchemy_errors_so_transactions_retry_or_refuse_as_before(app, buyer):
    """A CHECK violation is an IntegrityError: write_transaction retries it, then answers 503."""
    calls = {"n": 0}

    @write_transaction
    def overdraw():
        calls["n"] += 1
        SET_DEPOSIT.execute({"user_id": buyer.id, "deposit": -5})

    with pytest.raises(IntegrityError):
        SET_DEPOSIT.execute({"user_id": buyer.id, "deposit": -5})
    db.session.rollback()

    with pytest.raises(Unavailable):
        overdraw()
    assert calls["n"] == 5
    assert db.session.scalar(select(User.deposit).where(User.id == buyer.id)) == 0
    assert db.session.scalar(select(LedgerEntry.id)) is None



def test_a_write_transactions_statements_run_on_its_connection_which_is_forgotten_after_it(app, buyer):
    seen = []

    @write_transaction
    def set_deposit(cents: int, refuse: bool):
        write = tx.writing()
        seen.append(write.session is db.session() and write.connection is db.session.connection())
        SET_DEPOSIT.execute({"user_id": buyer.id, "deposit": cents})
        if refuse:
            raise Conflict("refused after the write")

    set_deposit(40, refuse=False)
    assert seen == [True] and tx.writing() is None
    with pytest.raises(Conflict):
        set_deposit(75, refuse=True)
    assert tx.writing() is None  # also after a refusal, whose write was rolled back
    assert db.session.scalar(select(User.deposit).where(User.id == buyer.id)) == 40


def test_a_write_transaction_run_inside_another_leaves_the_outer_one_on_a_live_connection(app, buyer):
    """The inner one commits the outer one's work so far (write_transaction's rule for an open
    transaction); the outer one then goes on with the session's next connection, not the one given back."""

    @write_transaction
    def inner():
        SET_DEPOSIT.execute({"user_id": buyer.id, "deposit": 20})

    @write_transaction
    def outer():
        SET_DEPOSIT.execute({"user_id": buyer.id, "deposit": 10})
        inner()
        SET_DEPOSIT.execute({"user_id": buyer.id, "deposit": 30})
        return READ_USER.first({"user_id": buyer.id}).deposit

    assert outer() == 30
    assert db.session.scalar(select(User.deposit).where(User.id == buyer.id)) == 30

@pytest.fixture
def postgres(is_postgres):
    if not is_postgres:
        pytest.skip("the libpq path runs on PostgreSQL only")


def _dbapi_connection():
    return db.session.connection().connection.dbapi_connection


def _prepared_names() -> set[str]:
    return set(db.session.scalars(text("SELECT name FROM pg_prepared_statements WHERE name LIKE 'vm_hot_%'")))


def test_on_postgres_a_statement_is_prepared_once_per_connection_and_begins_the_transaction(app, buyer, postgres):
    db.session.commit()
    connection = _dbapi_connection()
    assert connection.pgconn.transaction_status == pq.TransactionStatus.IDLE
    assert READ_USER.first({"user_id": buyer.id}).username == buyer.username
    assert connection.pgconn.transaction_status == pq.TransactionStatus.INTRANS  # a plain BEGIN went first
    name = READ_USER._by_dialect["postgresql"].prepared.name.decode()
    assert name in _prepared_names()
    db.session.rollback()
    # Preparing it again on this connection would fail ("prepared statement ... already exists").
    assert READ_USER.first({"user_id": buyer.id}).id == buyer.id
    assert _prepared_names() == {name}


def test_a_transaction_with_an_isolation_level_is_begun_by_the_driver(app, buyer, postgres):
    """Only a plain BEGIN is sent by HotStatement; psycopg begins any other transaction its own way."""
    db.session.commit()
    connection = _dbapi_connection()
    connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        SET_DEPOSIT.execute({"user_id": buyer.id, "deposit": 40})
        assert db.session.scalar(text("SHOW transaction_isolation")) == "repeatable read"
        db.session.rollback()
    finally:
        connection.isolation_level = None
    assert db.session.scalar(select(User.deposit).where(User.id == buyer.id)) == 0


def test_integer_parameters_are_written_as_psycopg_writes_them(app, postgres):
    from app.services.hotsql import _Link

    connection = _dbapi_connection()
    link = _Link.of(connection)
    for value in (0, 7, -5, 2**31, -(2**63), 2**70):
        dumper = connection.adapters.get_dumper(int, PyFormat.TEXT)(int, connection)
        assert link.dump(value) == bytes(dumper.upgrade(value, PyFormat.TEXT).dump(value))
    assert link.dump(True) == b"t" and link.dump(None) is None and link.dump("é") == "é".encode()


def attempts_counted(body):
    """body(attempt) as one write_transaction, and a counter of the attempts it took."""
    attempts = {"n": 0}

    @write_transaction
    def run():
        attempts["n"] += 1
        return body(attempts["n"])

    return run, attempts


def set_then_read(setter, reader, user_id: int, cents: int):
    """One write_transaction that sets the deposit with `setter` and reads it back with `reader`:
    what it read, and how many attempts it took."""

    def body(_attempt):
        setter.execute({"user_id": user_id, "deposit": cents})
        return reader.first({"user_id": user_id}).deposit

    run, attempts = attempts_counted(body)
    return run(), attempts["n"]


def test_a_deallocated_statement_is_prepared_again_by_the_retried_transaction(app, buyer, postgres):
    """DEALLOCATE ALL (or DISCARD ALL, as a pooler may run) removes prepared statements behind our back."""
    set_10, _ = attempts_counted(lambda _attempt: SET_DEPOSIT.execute({"user_id": buyer.id, "deposit": 10}))
    set_10()
    db.session.execute(text("DEALLOCATE ALL"))
    db.session.commit()
    set_25, attempts = attempts_counted(lambda _attempt: SET_DEPOSIT.execute({"user_id": buyer.id, "deposit": 25}))
    set_25()
    assert attempts["n"] == 2  # the first attempt met the missing statement and was rolled back
    assert db.session.scalar(select(User.deposit).where(User.id == buyer.id)) == 25


def test_a_connection_cut_under_a_statement_is_dropped_and_the_write_runs_again(app, buyer, postgres):
    """libpq reports a cut connection without an SQLSTATE: it is still a disconnect, so the pool drops
    the connection and write_transaction runs the write again on a new one (nothing was applied)."""

    def set_deposit(attempt):
        if attempt == 1:
            with socket.socket(fileno=os.dup(_dbapi_connection().pgconn.socket)) as cut:
                cut.shutdown(socket.SHUT_RDWR)
        SET_DEPOSIT.execute({"user_id": buyer.id, "deposit": 30})

    run, attempts = attempts_counted(set_deposit)
    run()
    assert attempts["n"] == 2
    assert db.session.scalar(select(User.deposit).where(User.id == buyer.id)) == 30


def test_statements_prepared_after_a_deallocation_are_not_prepared_twice(app, buyer, postgres):
    """After a DEALLOCATE ALL, a statement prepared since still exists when an older one is found
    missing: the retried transaction must use it, not prepare it again."""
    older = HotStatement(select(USERS.c.deposit).where(USERS.c.id == bindparam("user_id")))
    newer = HotStatement(update(USERS).where(USERS.c.id == bindparam("user_id")).values(deposit=bindparam("deposit")))
    older.first({"user_id": buyer.id})
    db.session.commit()
    db.session.execute(text("DEALLOCATE ALL"))
    db.session.commit()
    assert set_then_read(newer, older, buyer.id, 15) == (15, 2)
    assert db.session.scalar(select(User.deposit).where(User.id == buyer.id)) == 15


def test_rollbacks_keep_the_prepared_statements(app, buyer, postgres):
    """psycopg's own automatic preparation is off: with it, a rollback after any statement it had
    prepared (five runs of one query) would deallocate ours too and cost the next transaction a retry."""
    assert _dbapi_connection().prepare_threshold is None
    READ_USER.first({"user_id": buyer.id})
    for _ in range(6):
        db.session.execute(select(User.username).where(User.id == buyer.id))
    db.session.rollback()
    assert set_then_read(SET_DEPOSIT, READ_USER, buyer.id, 5) == (5, 1)
    assert db.session.scalar(select(User.deposit).where(User.id == buyer.id)) == 5


def test_a_hot_write_leaves_no_noted_versions_behind_with_or_without_the_cache_listeners(
    app_config, tmp_path, request, monkeypatch
):
    """The names a write notes for the read cache are taken out again by the listeners' commit; in a
    process whose app has no cache (no listeners), nothing is noted, so nothing piles up in the session."""
    app_config["CACHE_VERSIONS"] = f"file://{tmp_path / 'versions'}"  # listeners on, even with TEST_CACHE_VERSIONS=off
    request.getfixturevalue("app")
    buyer = request.getfixturevalue("buyer")
    SET_DEPOSIT.execute({"user_id": buyer.id, "deposit": 15}, changes_user=buyer.id)
    assert read_cache.PENDING in db.session.info
    db.session.commit()
    assert read_cache.PENDING not in db.session.info

    monkeypatch.setattr(read_cache, "_listening", False)
    SET_DEPOSIT.execute({"user_id": buyer.id, "deposit": 25}, changes_user=buyer.id)
    assert read_cache.PENDING not in db.session.info
    db.session.commit()
    assert db.session.scalar(select(User.deposit).where(User.id == buyer.id)) == 25
