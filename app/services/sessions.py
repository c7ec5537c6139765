"""The session registry: API tokens and browser sessions are rows of one table.

Tokens are 256-bit random values; only their SHA-256 digest is stored, so a leaked database
does not leak usable tokens. Ending a session deletes its row, which ends it everywhere.
"""

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import AuthSession, User
from app.models._types import utcnow
from app.services import cache as read_cache
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
    db.session.execute(
        delete(AuthSession).where(AuthSession.user_id == user.id, AuthSession.expires_at <= now),
        execution_options={"changes_user": user.id},
    )
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


@dataclass(frozen=True)
class Account:
    """What a client sees of its own account; a plain value, safe to cache."""

    id: int
    username: str
    role: str
    deposit: int
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> "Account":
        return cls(user.id, user.username, user.role, user.deposit, user.created_at)


@dataclass(frozen=True)
class _TokenCheck:
    actor: Actor
    username: str
    expires_at: datetime
    last_seen_at: datetime


def authenticate(token: str) -> Actor:
    """The actor behind a token, or Unauthorized. Touches last_seen_at at most once a minute."""
    return authenticate_user(token)[0]


def authenticate_user(token: str) -> tuple[Actor, str]:
    """authenticate(), also returning the username (which never changes).

    With the read cache on, a worker answers from its own copy while the versions of the user's
    sessions are unchanged: opening or ending any of them (logout, logout/all, a password change),
    a role change or deleting the account bumps them at commit; coins moving do not. Which user a
    token belongs to never changes, so it is remembered apart, and the versions are read before
    the database, as the cache requires.
    """
    digest = hash_token(token)
    now = utcnow()
    cache = read_cache.current()
    owner = cache.fact(("token-owner", digest)) if cache else None
    versions = cache.versions(_session_versions(owner)) if owner is not None else None
    check = cache.get(("token", digest), versions) if versions is not None else None
    cached = check is not None and check.expires_at > now
    if not cached:
        check = _check_in_database(digest, now)
        if cache and owner is None:  # first sight in this worker: now the versions can be read first
            owner = check.actor.id
            read_cache.fresh_snapshot()
            versions = cache.versions(_session_versions(owner))
            if versions is not None:  # else the board is down: nothing will be stored
                check = _check_in_database(digest, now)
    touched = now - check.last_seen_at > LAST_SEEN_RESOLUTION
    if touched:
        _touch(check.actor.session_id, now)
        check = replace(check, last_seen_at=now)
    if cache and not (cached and not touched):
        cache.remember_fact(("token-owner", digest), check.actor.id)
        if owner == check.actor.id:
            cache.put(("token", digest), versions, check)
    return check.actor, check.username


def account(actor: Actor) -> Account:
    """The signed-in user's account, from this worker's copy while the user row is unchanged."""

    def load() -> Account:
        user = db.session.get(User, actor.id)
        if user is None:
            raise Unauthorized("Your session has expired or was ended; please log in again")
        return Account.of(user)

    names = (read_cache.user_version(actor.id), read_cache.ALL_USERS)
    return read_cache.remember(("account", actor.id), names, load)


def _session_versions(user_id: int) -> tuple[str, ...]:
    return (read_cache.sessions_version(user_id), read_cache.ALL_USERS)


def _check_in_database(digest: str, now: datetime) -> _TokenCheck:
    """One indexed join and no write.

    The read transaction stays open, so the view's own reads reuse its connection; write services
    commit it before their BEGIN IMMEDIATE / FOR UPDATE and lock_one re-reads the rows it locks.
    """
    row = db.session.execute(
        select(AuthSession.id, AuthSession.user_id, AuthSession.expires_at, AuthSession.last_seen_at, User.role,
               User.username)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.token_hash == digest)
    ).first()
    if row is None or row.expires_at <= now:
        db.session.rollback()
        raise Unauthorized("Your session has expired or was ended; please log in again")
    return _TokenCheck(Actor(id=row.user_id, role=row.role, session_id=row.id), row.username,
                       row.expires_at, row.last_seen_at)


def _touch(session_id: int, now: datetime) -> None:
    """Record activity at most once a minute per session (a worker whose copy is older finds the row
    touched by another and writes nothing); best effort, so a busy database never turns an
    authenticated request into an error. Cached token checks stay valid:
    last_seen_at is only shown in the session list, which is always read from the database."""
    db.session.rollback()
    try:
        db.session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        db.session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.last_seen_at < now - LAST_SEEN_RESOLUTION)
            .values(last_seen_at=now),
            execution_options={"read_cache_neutral": True},
        )
        db.session.commit()
    except OperationalError:
        db.session.rollback()


def active_session_count(user_id: int) -> int:
    return _active_count(user_id, utcnow())


@write_transaction
def end_session(actor: Actor, session_id: int) -> None:
    """End one of the actor's own sessions."""
    result = db.session.execute(
        delete(AuthSession).where(AuthSession.id == session_id, AuthSession.user_id == actor.id),
        execution_options={"changes_user": actor.id},
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
    return db.session.execute(stmt, execution_options={"changes_user": user_id}).rowcount


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
