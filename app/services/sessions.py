"""The session registry: API tokens and browser sessions are rows of one table.

Tokens are 256-bit random values; only their SHA-256 digest is stored, so a leaked database
does not leak usable tokens. Ending a session deletes its row, which ends it everywhere: every
signed-in request checks its token against the table (one indexed query), on every worker.
"""

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.data.transactions import Contention, write_transaction
from app.extensions import db
from app.models import AuthSession, User
from app.models.columns import utcnow
from app.services import passwords
from app.services.errors import NotFound, Unauthorized, WrongPassword
from app.services.policy import Actor

log = logging.getLogger(__name__)

TOKEN_PREFIX = "vm_"
ACTIVE_SESSION_MESSAGE = "There is already an active session using your account"
WRONG_CREDENTIALS = "Invalid username or password"
SESSION_ENDED = "Your session has expired or was ended; please log in again"
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
SESSIONS = AuthSession.__table__


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class LoginResult:
    token: str
    expires_at: datetime
    user: User
    session_id: int
    other_active_sessions: int

    @property
    def message(self) -> str | None:
        return ACTIVE_SESSION_MESSAGE if self.other_active_sessions else None


@dataclass(frozen=True)
class Account:
    """What a client sees of its own account, read with its token check."""

    id: int
    username: str
    role: str
    deposit: int
    created_at: datetime


def _active_count(user_id: int, now: datetime) -> int:
    return db.session.scalar(
        select(func.count()).select_from(AuthSession).where(
            AuthSession.user_id == user_id, AuthSession.expires_at > now
        )
    )


def login(username: str, password: str, *, kind: str, ttl_seconds: int, user_agent: str | None) -> LoginResult:
    """Check the password and open a session. Other active sessions are counted, not ended."""
    row = None
    if "\x00" not in username:  # PostgreSQL refuses NUL in text; no username contains one
        row = db.session.execute(
            select(User.id, User.password_hash).where(User.username_key == username.lower())
        ).first()
    db.session.rollback()  # the slow hash below must not hold a transaction open
    if row is None:
        passwords.burn_time_for_unknown_user(password)
        raise WrongPassword(WRONG_CREDENTIALS)
    if not passwords.verify_password(row.password_hash, password):
        raise WrongPassword(WRONG_CREDENTIALS)
    return open_session(row.id, kind=kind, ttl_seconds=ttl_seconds, user_agent=user_agent)


@write_transaction
def open_session(user_id: int, *, kind: str, ttl_seconds: int, user_agent: str | None) -> LoginResult:
    user = db.session.get(User, user_id)
    if user is None:
        raise Unauthorized(WRONG_CREDENTIALS)
    now = utcnow()
    db.session.execute(delete(SESSIONS).where(SESSIONS.c.user_id == user.id, SESSIONS.c.expires_at <= now))
    others = _active_count(user.id, now)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session_row = AuthSession(
        user_id=user.id,
        token_hash=hash_token(token),
        kind=kind,
        user_agent=(user_agent or "")[:255] or None,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    db.session.add(session_row)
    db.session.flush()
    return LoginResult(token, session_row.expires_at, user, session_row.id, others)


CHECK_TOKEN = (
    select(
        AuthSession.id, AuthSession.user_id, AuthSession.expires_at, AuthSession.last_seen_at,
        User.role, User.username, User.deposit, User.created_at,
    )
    .join(User, User.id == AuthSession.user_id)
    .where(AuthSession.token_hash == bindparam("token_hash"))
)


def authenticate(token: str) -> tuple[Actor, Account]:
    """The actor behind a token and its account, or Unauthorized: one indexed join, no cache.

    The check is one statement on a connection in autocommit, not a transaction of the request's
    session: one round trip instead of three (BEGIN, the SELECT, and the ROLLBACK before the request's
    write or at its end), on every signed-in request. Activity is recorded at most once a minute per
    session (see _touch).
    """
    now = utcnow()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        row = connection.execute(CHECK_TOKEN, {"token_hash": hash_token(token)}).first()
    if row is None or row.expires_at <= now:
        raise Unauthorized(SESSION_ENDED)
    if now - row.last_seen_at > LAST_SEEN_RESOLUTION:
        _touch(row.id, now)
    actor = Actor(id=row.user_id, role=row.role, session_id=row.id)
    return actor, Account(row.user_id, row.username, row.role, row.deposit, row.created_at)


def _touch(session_id: int, now: datetime) -> None:
    """Record activity; best effort, so a busy database never turns a signed-in request into an
    error. A worker whose read is older finds the row touched by another and writes nothing."""
    try:
        _write_last_seen(session_id, now)
    except (Contention, SQLAlchemyError) as error:
        log.info("last-seen time of session %s not recorded: %s", session_id, error.__class__.__name__)


@write_transaction
def _write_last_seen(session_id: int, now: datetime) -> None:
    db.session.execute(
        update(SESSIONS)
        .where(SESSIONS.c.id == session_id, SESSIONS.c.last_seen_at < now - LAST_SEEN_RESOLUTION)
        .values(last_seen_at=now)
    )


def active_session_count(user_id: int) -> int:
    return _active_count(user_id, utcnow())


@write_transaction
def end_session(actor: Actor, session_id: int) -> None:
    """End one of the actor's own sessions."""
    result = db.session.execute(
        delete(SESSIONS).where(SESSIONS.c.id == session_id, SESSIONS.c.user_id == actor.id)
    )
    if result.rowcount == 0:
        raise NotFound("No such session")


@write_transaction
def end_all_sessions(user_id: int, *, except_session_id: int | None = None) -> int:
    """End every session of the user (optionally but one); returns how many ended."""
    return revoke_sessions(user_id, except_session_id=except_session_id)


def revoke_sessions(user_id: int, *, except_session_id: int | None = None) -> int:
    """Delete the user's session rows inside the caller's transaction."""
    stmt = delete(SESSIONS).where(SESSIONS.c.user_id == user_id)
    if except_session_id is not None:
        stmt = stmt.where(SESSIONS.c.id != except_session_id)
    return db.session.execute(stmt).rowcount


def list_sessions(actor: Actor) -> list[AuthSession]:
    now = utcnow()
    return list(
        db.session.scalars(
            select(AuthSession)
            .where(AuthSession.user_id == actor.id, AuthSession.expires_at > now)
            .order_by(AuthSession.created_at.desc(), AuthSession.id.desc())
        )
    )


def session_exists(session_id: int) -> bool:
    return db.session.scalar(
        select(func.count()).select_from(AuthSession).where(
            AuthSession.id == session_id, AuthSession.expires_at > utcnow()
        )
    ) == 1


@write_transaction
def purge_expired(now: datetime, *, batch: int) -> int:
    """Delete up to `batch` expired sessions (a login also deletes its own user's)."""
    expired = select(SESSIONS.c.id).where(SESSIONS.c.expires_at <= now).limit(batch)
    return db.session.execute(delete(SESSIONS).where(SESSIONS.c.id.in_(expired))).rowcount
