"""Transactions and locks.

Every write runs in one transaction that is retried a bounded number of times when the database
reports a deadlock, a serialization failure or (SQLite) a busy lock. Locks are always taken in
the order user, product (or order), tubes. PostgreSQL locks rows with SELECT ... FOR UPDATE;
SQLite has no row locks, so write transactions start with BEGIN IMMEDIATE (see
app.database), which takes the database write lock before the first read.
"""

import contextvars
import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from app.extensions import db
from app.services.errors import ServiceError, Unavailable

P = ParamSpec("P")
R = TypeVar("R")

MAX_ATTEMPTS = 5
# serialization failure, deadlock, lock not available; and a prepared statement that vanished from the
# connection (DEALLOCATE or DISCARD run on it): the next attempt prepares it again (services.hotsql)
RETRYABLE_PGCODES = {"40001", "40P01", "55P03", "26000"}

# The session and its Connection while a write transaction runs: the money path's statements
# (services.hotsql) run on it without asking the session for its connection again, statement by
# statement (measured: about a twentieth of the Python calls of a buy cycle).
_WRITING: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("writing", default=None)


def writing_connection() -> tuple | None:
    """(session, Connection) of the write transaction running now, or None outside one."""
    return _WRITING.get()


def _is_retryable(error: DBAPIError) -> bool:
    orig = error.orig
    pgcode = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if pgcode in RETRYABLE_PGCODES:
        return True
    text = str(orig).lower()
    return isinstance(error, OperationalError) and ("locked" in text or "busy" in text)


def write_transaction(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` as one write transaction: commit on success, roll back on any error.

    A unique-constraint race (IntegrityError) is retried too: the next attempt sees the
    winner's row and answers with a domain error instead of a 500. So is a database connection
    lost before COMMIT (the server rolled the transaction back); one lost during COMMIT is not,
    since the outcome is unknown: the request answers 503 (app.errors) and an Idempotency-Key
    makes its retry safe.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        session = db.session()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if session.in_transaction():
                session.commit()
            committing = False
            try:
                _WRITING.set((session, session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})))
                try:
                    result = func(*args, **kwargs)
                finally:
                    # None, not the value before: a write transaction run inside another one commits the
                    # outer one's connection away, so the outer one goes on with the session's next one.
                    _WRITING.set(None)
                committing = True
                session.commit()
                return result
            except ServiceError:
                session.rollback()
                raise
            except (OperationalError, IntegrityError, DBAPIError) as error:
                session.rollback()
                if error.connection_invalidated and not committing and attempt < MAX_ATTEMPTS:
                    continue  # the connection was lost before COMMIT, so nothing was applied: again on a new one
                if attempt == MAX_ATTEMPTS or not (
                    isinstance(error, IntegrityError) or _is_retryable(error)
                ):
                    if isinstance(error, IntegrityError) or _is_retryable(error):
                        raise Unavailable("The machine is busy, please try again") from error
                    raise
                time.sleep(random.uniform(0.005, 0.02) * attempt)  # noqa: S311 (jitter, not crypto)  # nosec B311
            except BaseException:
                session.rollback()
                raise
        raise AssertionError("unreachable")

    return wrapper


def locked(stmt):
    """FOR UPDATE with fresh values (SQLite ignores FOR UPDATE; BEGIN IMMEDIATE serialises it)."""
    return stmt.with_for_update().execution_options(populate_existing=True)


def lock_one(model, ident):
    """The row with primary key `ident`, locked until the transaction ends, or None."""
    key = model.__mapper__.primary_key[0]
    return db.session.execute(locked(select(model).where(key == ident))).scalar_one_or_none()
