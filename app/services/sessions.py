"""The session registry: API tokens and browser sessions are rows of one table.

Tokens are 256-bit random values; only their SHA-256 digest is stored, so a leaked database
does not leak usable tokens. Ending a session deletes its row, which ends it everywhere.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import AuthSession, User
from app.models._types import utcnow
from app.services import passwords
from app.services.errors import NotFound, Unauthorized
from app.services.policy import Actor
from app.services.tx import write_transaction

TOKEN_PREFIX = "vm_"
ACTIVE_SESSION_MESSAGE = "There is already an active session using your account"
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


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
        raise Unauthorized("Invalid username or password")
    if not passwords.verify_password(row.password_hash, password):
        raise Unauthorized("Invalid username or password")
    return open_session(row.id, kind=kind, ttl_seconds=ttl_seconds, user_agent=user_agent)


@write_transaction
def open_session(user_id: int, *, kind: str, ttl_seconds: int, user_agent: str | None) -> LoginResult:
    user = db.session.get(User, user_id)
    if user is None:
        raise Unauthorized("Invalid username or password")
    now = utcnow()
    db.session.execute(delete(AuthSession).where(AuthSession.user_id == user.id, AuthSession.expires_at <= now))
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


def authenticate(token: str) -> Actor:
    """The actor behind a token, or Unauthorized. Touches last_seen_at at most once a minute."""
    return authenticate_user(token)[0]


def authenticate_user(token: str) -> tuple[Actor, User]:
    """authenticate(), also returning the user row it loaded in the same query.

    One indexed query and no write on most requests: the read transaction stays open, so the
    view's own reads reuse its connection, and while the caller holds the returned User (the
    identity map only keeps weak references) db.session.get(User, id) is answered without SQL.
    Write services commit this read transaction before their BEGIN IMMEDIATE / FOR UPDATE, and
    lock_one re-reads the rows it locks, so no stale value can reach a write.
    """
    now = utcnow()
    row = db.session.execute(
        select(AuthSession.id, AuthSession.expires_at, AuthSession.last_seen_at, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.token_hash == hash_token(token))
    ).first()
    if row is None or row.expires_at <= now:
        db.session.rollback()
        raise Unauthorized("Your session has expired or was ended; please log in again")
    actor = Actor(id=row.User.id, role=row.User.role, session_id=row.id)
    if now - row.last_seen_at > LAST_SEEN_RESOLUTION:
        db.session.rollback()
        _touch(row.id, now)
    return actor, row.User


def _touch(session_id: int, now: datetime) -> None:
    """Best effort: a busy database must not turn an authenticated request into an error."""
    try:
        db.session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        db.session.execute(update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=now))
        db.session.commit()
    except OperationalError:
        db.session.rollback()


def active_session_count(user_id: int) -> int:
    return _active_count(user_id, utcnow())


@write_transaction
def end_session(actor: Actor, session_id: int) -> None:
    """End one of the actor's own sessions."""
    result = db.session.execute(
        delete(AuthSession).where(AuthSession.id == session_id, AuthSession.user_id == actor.id)
    )
    if result.rowcount == 0:
        raise NotFound("No such session")


@write_transaction
def end_all_sessions(user_id: int, *, except_session_id: int | None = None) -> int:
    """End every session of the user (optionally but one); returns how many ended."""
    return revoke_sessions(user_id, except_session_id=except_session_id)


def revoke_sessions(user_id: int, *, except_session_id: int | None = None) -> int:
    """Delete the user's session rows inside the caller's transaction."""
    stmt = delete(AuthSession).where(AuthSession.user_id == user_id)
    if except_session_id is not None:
        stmt = stmt.where(AuthSession.id != except_session_id)
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
