"""The session registry: API tokens and browser sessions are rows of one table.

Tokens are 256-bit random values; only their SHA-256 digest is stored, so a leaked database
does not leak usable tokens. Ending a session deletes its row, which ends it everywhere: every
signed-in request checks its token against the table (one indexed query), on every worker.

A session ends at its expiry (the lifetime given at login) or, before that, after `idle_seconds` without a
request: its idle deadline (idle_until) moves on whenever its last-seen time is written, which is at most once a
minute (LAST_SEEN_RESOLUTION). So that a session used within the limit never ends, the deadline is the last-seen
time plus the limit plus that minute: an idle session ends between `idle_seconds` and a minute later.

Each session keeps the network its client logged in from (203.0.113.0/24, 2001:db8:1::/48), so that its owner
can tell sessions apart without the table holding anyone's exact address (the access logs have those).
"""

import hashlib
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
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
# The part of a client's address kept with its session: the network a provider gives one customer, about.
IPV4_PREFIX, IPV6_PREFIX = 24, 48


def spelled_duration(span: timedelta) -> str:
    """"2 hours", "1 hour", "90 minutes", "1 minute": a session's limits in words."""
    minutes = round(span.total_seconds() / 60)
    count, unit = (minutes // 60, "hour") if minutes and minutes % 60 == 0 else (minutes, "minute")
    return f"{count} {unit}{'' if count == 1 else 's'}"


def idle_message(idle: timedelta) -> str:
    return f"Your session ended after {spelled_duration(idle)} without activity; please log in again"


def client_network(address: str | None) -> str | None:
    """The network of a client address, the address itself left out: "203.0.113.9" -> "203.0.113.0/24",
    "2001:db8:1:2::5" -> "2001:db8:1::/48"; None for anything that is not an IP address."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _alive(now: datetime):
    """Sessions neither expired nor idle past their deadline, as a WHERE clause."""
    return and_(AuthSession.expires_at > now, AuthSession.idle_until > now)


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
        select(func.count()).select_from(AuthSession).where(AuthSession.user_id == user_id, _alive(now))
    )


def login(username: str, password: str, *, kind: str, ttl_seconds: int, idle_seconds: int, user_agent: str | None,
          client_address: str | None) -> LoginResult:
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
    return open_session(row.id, kind=kind, ttl_seconds=ttl_seconds, idle_seconds=idle_seconds,
                        user_agent=user_agent, client_address=client_address)


@write_transaction
def open_session(user_id: int, *, kind: str, ttl_seconds: int, idle_seconds: int, user_agent: str | None,
                 client_address: str | None) -> LoginResult:
    """A new session of `kind` (api or web) for the user: it lasts `ttl_seconds` at most, and ends after
    `idle_seconds` without a request (see the module's docstring)."""
    user = db.session.get(User, user_id)
    if user is None:
        raise Unauthorized(WRONG_CREDENTIALS)
    now = utcnow()
    db.session.execute(delete(SESSIONS).where(SESSIONS.c.user_id == user.id,
                                              or_(SESSIONS.c.expires_at <= now, SESSIONS.c.idle_until <= now)))
    others = _active_count(user.id, now)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session_row = AuthSession(
        user_id=user.id,
        token_hash=hash_token(token),
        kind=kind,
        user_agent=(user_agent or "")[:255] or None,
        client_network=client_network(client_address),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
        idle_until=now + timedelta(seconds=idle_seconds) + LAST_SEEN_RESOLUTION,
    )
    db.session.add(session_row)
    db.session.flush()
    return LoginResult(token, session_row.expires_at, user, session_row.id, others)


CHECK_TOKEN = (
    select(
        AuthSession.id, AuthSession.user_id, AuthSession.expires_at, AuthSession.last_seen_at, AuthSession.idle_until,
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
    session (see _touch), and moves the idle deadline on with it.
    """
    now = utcnow()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        row = connection.execute(CHECK_TOKEN, {"token_hash": hash_token(token)}).first()
    if row is None or row.expires_at <= now:
        raise Unauthorized(SESSION_ENDED)
    if row.idle_until <= now:
        raise Unauthorized(idle_message(row.idle_until - row.last_seen_at - LAST_SEEN_RESOLUTION))
    if now - row.last_seen_at > LAST_SEEN_RESOLUTION:
        _touch(row.id, now, idle_until=now + (row.idle_until - row.last_seen_at))
    actor = Actor(id=row.user_id, role=row.role, session_id=row.id)
    return actor, Account(row.user_id, row.username, row.role, row.deposit, row.created_at)


def _touch(session_id: int, now: datetime, *, idle_until: datetime) -> None:
    """Record activity; best effort, so a busy database never turns a signed-in request into an
    error (the deadline moves on at the next request). A worker whose read is older finds the row touched by
    another and writes nothing."""
    try:
        _write_last_seen(session_id, now, idle_until)
    except (Contention, SQLAlchemyError) as error:
        log.info("last-seen time of session %s not recorded: %s", session_id, error.__class__.__name__)


@write_transaction
def _write_last_seen(session_id: int, now: datetime, idle_until: datetime) -> None:
    # Never a session already idle past its deadline: a request checked just before the deadline must not
    # bring back one that a purge or another worker found ended.
    db.session.execute(
        update(SESSIONS)
        .where(SESSIONS.c.id == session_id, SESSIONS.c.last_seen_at < now - LAST_SEEN_RESOLUTION,
               SESSIONS.c.idle_until > now)
        .values(last_seen_at=now, idle_until=idle_until)
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
            .where(AuthSession.user_id == actor.id, _alive(now))
            .order_by(AuthSession.created_at.desc(), AuthSession.id.desc())
        )
    )


def session_exists(session_id: int) -> bool:
    return db.session.scalar(
        select(func.count()).select_from(AuthSession).where(AuthSession.id == session_id, _alive(utcnow()))
    ) == 1


@write_transaction
def purge_expired(now: datetime, *, batch: int) -> int:
    """Delete up to `batch` expired or idle sessions (a login also deletes its own user's)."""
    expired = select(SESSIONS.c.id).where(or_(SESSIONS.c.expires_at <= now, SESSIONS.c.idle_until <= now)).limit(batch)
    return db.session.execute(delete(SESSIONS).where(SESSIONS.c.id.in_(expired))).rowcount
