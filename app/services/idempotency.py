"""Idempotency keys: a retried money request gets its first outcome, and the operation runs once.

The key is claimed in the transaction of the operation itself (the design of Brandur Leach's
"Implementing Stripe-like Idempotency Keys in Postgres", for effects that all live in one database):
its row is inserted before the operation runs and holds the reply when it ends, and the row, the
effect and the reply commit together or not at all. So:

- a repeat that arrives while the first runs waits on the key (the unique index on PostgreSQL, the
  write lock on SQLite), then finds the first one's reply and replays it;
- if the first dies with its worker or its connection, its transaction dies with it and releases
  the key at once: the repeat runs the operation;
- a connection lost during COMMIT leaves the outcome unknown, so the whole call runs again on a
  new connection, which finds the reply if the first committed and runs the operation if it did not;
- a key row is never deleted before it expires, so a committed effect always has its reply.

Refusals (4xx) are stored and replayed like successes: the operation's own changes are undone with
a savepoint, the key and the refusal commit.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from app.data.transactions import write_transaction
from app.extensions import db
from app.models import IdempotencyKey
from app.models.columns import utcnow
from app.services.errors import InvalidInput, ServiceError

KEYS = IdempotencyKey.__table__


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    replayed: bool = False


def fingerprint(method: str, path: str, body: object) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> None:
    if not 1 <= len(key) <= 255 or not all(0x20 < ord(ch) < 0x7F for ch in key):
        raise InvalidInput("Idempotency-Key must be 1-255 printable ASCII characters", field="Idempotency-Key")


def _replay(row: IdempotencyKey, print_: str) -> Reply:
    if row.fingerprint != print_:
        raise InvalidInput("This Idempotency-Key was used with a different request", field="Idempotency-Key")
    return Reply(row.response_status, row.response_body, replayed=True)


@write_transaction(rerun_after_lost_commit=True)
def run_once(
    *,
    user_id: int,
    key: str,
    print_: str,
    session_digest: str | None,
    ttl_seconds: int,
    operation: Callable[[], Any],
    reply: Callable[[Any], tuple[int, str]],
    refusal: Callable[[ServiceError], tuple[int, str]],
) -> Reply:
    """Run `operation` once per (user, key): `reply(result)` or `refusal(error)` is stored and returned,
    and every later call with the key gets the stored one back (replayed=True)."""
    now = utcnow()
    stored = db.session.scalar(
        select(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .with_for_update()
    )
    if stored is not None and stored.expires_at > now:
        return _replay(stored, print_)
    if stored is not None:  # expired: the key starts afresh
        db.session.delete(stored)
        db.session.flush()
    claim = IdempotencyKey(
        user_id=user_id, key=key, fingerprint=print_, session_digest=session_digest,
        response_status=0, response_body="", created_at=now, expires_at=now + timedelta(seconds=ttl_seconds),
    )
    db.session.add(claim)
    db.session.flush()  # a concurrent first use of the key waits here, then this attempt runs again
    try:
        with db.session.begin_nested():
            status, body = reply(operation())
    except ServiceError as error:
        if error.http_status >= 500:
            raise
        status, body = refusal(error)
    claim.response_status, claim.response_body = status, body
    return Reply(status, body)


def replay_for_ended_session(session_digest: str, key: str, print_: str) -> Reply | None:
    """The stored reply to a request this very token sent, although its session has ended since
    (a deleted account, say), or None. Only the token's holder could have sent it."""
    row = db.session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.session_digest == session_digest,
            IdempotencyKey.key == key,
            IdempotencyKey.expires_at > utcnow(),
        )
    )
    if row is None or row.fingerprint != print_:
        return None
    return Reply(row.response_status, row.response_body, replayed=True)


@write_transaction
def purge_expired(now: datetime, *, batch: int) -> int:
    """Delete up to `batch` expired keys: their replies are no longer promised."""
    expired = select(KEYS.c.id).where(KEYS.c.expires_at <= now).limit(batch)
    return db.session.execute(delete(KEYS).where(KEYS.c.id.in_(expired))).rowcount
