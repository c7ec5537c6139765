"""Transactions and locks.

Every write runs in one transaction that is retried a bounded number of times when the database
reports a deadlock, a serialization failure or (SQLite) a busy lock. Locks are always taken in
the order user, product (or order), tubes. PostgreSQL locks rows with SELECT ... FOR UPDATE;
SQLite has no row locks, so write transactions start with BEGIN IMMEDIATE (see
app.database), which takes the database write lock before the first read.

A write transaction runs on the request's ORM session (write_transaction), or, for the money path's
deposit and buy, on a pooled connection of its own without the session (hotsql.hot_write_transaction):
the same retries, the same locks, one transaction either way.
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
from app.services import cache
from app.services.errors import ServiceError, Unavailable

P = ParamSpec("P")
R = TypeVar("R")

MAX_ATTEMPTS = 5
# serialization failure, deadlock, lock not available; and a prepared statement that vanished from the
# connection (DEALLOCATE or DISCARD run on it): the next attempt prepares it again (services.hotsql)
RETRYABLE_PGCODES = {"40001", "40P01", "55P03", "26000"}


class SessionWrite:
    """A write transaction on the request's ORM session, as seen by the statements run in it.

    dialect, dbapi_connection and invalidate() are what services.hotsql needs to run a statement on
    the transaction's own connection; versions collects the read-cache versions its writes change.
    """

    hot = False

    def __init__(self, session, connection) -> None:
        self.session = session
        self.connection = connection
        self.dialect = connection.dialect
        self.dbapi_connection = connection.connection.dbapi_connection

    @classmethod
    def begin(cls) -> "SessionWrite":
        end_session_transaction()
        session = db.session()
        return cls(session, session.connection(execution_options={"sqlite_begin": "IMMEDIATE"}))

    @property
    def versions(self) -> set | None:
        """Where the names wait for the session's commit (None: no cache listeners, nothing to note)."""
        return cache.pending_versions(self.session)

    def invalidate(self, error: BaseException) -> None:
        self.connection.invalidate(error)

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


class NeedsSession(Exception):  # noqa: N818 (a signal to the transaction loop, not an error)
    """Raised inside a transaction without the session when its function needs the session after all
    (to explain a refusal, to fill a fresh install's tubes): the attempt is rolled back and the whole
    function runs again in a session write transaction."""


# The write transaction running now (a SessionWrite or a hotsql.HotWrite): the money path's statements
# run on its connection without asking the session for it again, statement by statement.
_WRITING: contextvars.ContextVar = contextvars.ContextVar("writing", default=None)


def writing() -> SessionWrite | None:
    """The write transaction running now, or None outside one."""
    return _WRITING.get()


def needs_session() -> None:
    """Call before using the ORM session in a function that may run without it (hot_write_transaction)."""
    current = _WRITING.get()
    if current is not None and current.hot:
        raise NeedsSession


def session_in_transaction() -> bool:
    """Whether the request's session has a transaction open (asked without creating a session)."""
    return db.session.registry.has() and db.session().in_transaction()


def end_session_transaction() -> None:
    """A write transaction starts on a clean slate: the request's open session transaction is committed."""
    if session_in_transaction():
        db.session.commit()


def _is_retryable(error: DBAPIError) -> bool:
    orig = error.orig
    pgcode = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if pgcode in RETRYABLE_PGCODES:
        return True
    text = str(orig).lower()
    return isinstance(error, OperationalError) and ("locked" in text or "busy" in text)


def transactional(func: Callable[P, R], begin_hot: Callable | None = None) -> Callable[P, R]:
    """`func` as one write transaction: commit on success, roll back on any error.

    Without `begin_hot`, on the session. With it, on what it returns, unless the function needs the
    session after all (NeedsSession, or the session found in a transaction afterwards): then the
    attempt is rolled back and the function runs again on the session.

    A unique-constraint race (IntegrityError) is retried too: the next attempt sees the
    winner's row and answers with a domain error instead of a 500. So is a database connection
    lost before COMMIT (the server rolled the transaction back); one lost during COMMIT is not,
    since the outcome is unknown: the request answers 503 (app.errors) and an Idempotency-Key
    makes its retry safe.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        begin = begin_hot or SessionWrite.begin
        attempt = 0
        while True:
            attempt += 1
            needs_session()  # a transaction inside one without the session: that one goes to the session
            write = None
            committing = False
            try:
                write = begin()
                _WRITING.set(write)
                try:
                    result = func(*args, **kwargs)
                    if write.hot and session_in_transaction():
                        raise NeedsSession
                finally:
                    # None, not the value before: a write transaction run inside another one commits the
                    # outer one's connection away, so the outer one goes on with the session's next one.
                    _WRITING.set(None)
                committing = True
                write.commit()
                return result
            except NeedsSession:
                _undo(write)
                begin, attempt = SessionWrite.begin, attempt - 1
            except ServiceError:
                if _undo(write):  # the refusal was worked out with the session: say it from there
                    begin, attempt = SessionWrite.begin, attempt - 1
                    continue
                raise
            except (OperationalError, IntegrityError, DBAPIError) as error:
                _undo(write)
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
                _undo(write)
                raise

    return wrapper


def _undo(write) -> bool:
    """Roll back an attempt (the session's transaction when it did not get as far as beginning one).
    True when it ran without the session yet used it: its session transaction is rolled back too."""
    if write is None or not write.hot:
        (write.rollback if write is not None else db.session.rollback)()
        return False
    write.rollback()
    if session_in_transaction():
        db.session.rollback()
        return True
    return False


def write_transaction(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` as one write transaction on the request's session (see transactional)."""
    return transactional(func)


def locked(stmt):
    """FOR UPDATE with fresh values (SQLite ignores FOR UPDATE; BEGIN IMMEDIATE serialises it)."""
    return stmt.with_for_update().execution_options(populate_existing=True)


def lock_one(model, ident):
    """The row with primary key `ident`, locked until the transaction ends, or None."""
    key = model.__mapper__.primary_key[0]
    return db.session.execute(locked(select(model).where(key == ident))).scalar_one_or_none()
