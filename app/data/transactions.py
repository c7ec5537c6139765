"""Write transactions: the one way the app changes the database.

Every write runs as one transaction on the request's ORM session, with SQLAlchemy Core or ORM
statements. Locks are always taken in the order user, product (or order), tubes. PostgreSQL locks
rows with SELECT ... FOR UPDATE (`locked`); SQLite has no row locks, so a write transaction starts
with BEGIN IMMEDIATE (app.data.engine), which takes the database's write lock before the first read.

An attempt runs again, a bounded number of times, when the database says it lost a race that a
second attempt settles: a deadlock, a serialization failure, a lock not available, a unique
constraint taken by a concurrent insert, a busy SQLite database; when a conditional write found the
values its attempt read without a lock changed (StaleRead); and when the connection was lost
before COMMIT (the server rolled the transaction back). A connection lost during COMMIT leaves the
outcome unknown, so the attempt is not run again (the client gets a 503) unless the function says a
second run is harmless: the idempotent wrapper of the money operations does, because its second
run finds the first one's stored reply when that one committed.
"""

import functools
import random
import time
from collections.abc import Callable
from contextvars import ContextVar

from sqlalchemy import inspect, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.data.outages import sqlite_error_name, sqlstate
from app.extensions import db

MAX_ATTEMPTS = 5
# serialization failure, deadlock, lock not available, unique violation
RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03", "23505"}
RETRYABLE_SQLITE_ERRORS = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}

_writing: ContextVar[bool] = ContextVar("writing", default=False)


class Contention(Exception):  # noqa: N818 (a state of the database, answered 503 by app.errors)
    """The database stayed busy (or kept losing races) through every attempt."""


class StaleRead(Exception):  # noqa: N818 (a signal to the transaction loop, not an error)
    """What this attempt read without a lock changed before it could write (a conditional UPDATE
    matched fewer rows than it should): the attempt is rolled back and runs again on fresh values."""


def in_write_transaction() -> bool:
    return _writing.get()


def is_contention(error: DBAPIError) -> bool:
    """A race the database lost that another attempt settles."""
    return sqlstate(error) in RETRYABLE_SQLSTATES or sqlite_error_name(error) in RETRYABLE_SQLITE_ERRORS


def write_transaction(func: Callable | None = None, *, rerun_after_lost_commit: bool = False):
    """Run `func` as one write transaction: commit on success, roll back on any error.

    Called inside another write transaction, `func` joins it (a service composed of others stays
    one transaction).
    """
    if func is None:
        return functools.partial(write_transaction, rerun_after_lost_commit=rerun_after_lost_commit)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if _writing.get():
            return func(*args, **kwargs)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            writing = _writing.set(True)
            committing = False
            try:
                begin_write()
                result = func(*args, **kwargs)
                committing = True
                db.session.commit()
                return result
            except StaleRead:
                roll_back()
                if attempt == MAX_ATTEMPTS:
                    raise Contention("a conditional write kept finding its rows changed") from None
                # jitter, not cryptography
                time.sleep(random.uniform(0.001, 0.005) * attempt)  # noqa: S311  # nosec B311
            except DBAPIError as error:
                roll_back()
                lost = error.connection_invalidated and (not committing or rerun_after_lost_commit)
                if attempt == MAX_ATTEMPTS or not (lost or is_contention(error)):
                    if is_contention(error):
                        raise Contention(str(error.orig)) from error
                    raise
                if not lost:
                    # jitter, not cryptography
                    time.sleep(random.uniform(0.005, 0.02) * attempt)  # noqa: S311  # nosec B311
            except BaseException:
                roll_back()
                raise
            finally:
                _writing.reset(writing)
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def begin_write() -> None:
    """End the request's read transaction (so the write sees every commit before it) and begin a write."""
    if db.session().in_transaction():
        db.session.rollback()
    db.session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


def roll_back() -> None:
    try:
        db.session.rollback()
    except SQLAlchemyError:
        db.session.close()  # the connection is gone: give it back to the pool, which discards it


def locked(stmt):
    """FOR UPDATE with fresh values (SQLite ignores FOR UPDATE; BEGIN IMMEDIATE serialises it)."""
    return stmt.with_for_update().execution_options(populate_existing=True)


def lock_one(model, ident):
    """The row with primary key `ident`, locked until the transaction ends, or None."""
    key = inspect(model).primary_key[0]
    return db.session.execute(locked(select(model).where(key == ident))).scalar_one_or_none()

