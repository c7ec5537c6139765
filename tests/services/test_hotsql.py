"""HotStatement: Core statements sent straight to the driver inside the session's transaction."""

from datetime import datetime

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError, InvalidRequestError

from app.extensions import db
from app.models import LedgerEntry, Order, User
from app.models._types import utcnow
from app.services.errors import Unavailable
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
