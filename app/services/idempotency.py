"""Idempotency keys: a retried money request returns the first outcome and changes nothing.

claim() records the key as running in its own short transaction, so that a concurrent repeat
sees it and gets 409. The outcome is stored by record_outcome() inside the transaction of the
effect itself (through the service's on_success hook), so effect and stored reply commit or
vanish together. Refusals are stored too; an unexpected crash releases the key.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import IdempotencyKey
from app.models._types import utcnow
from app.services.errors import Conflict, InvalidInput
from app.services.hotsql import HotStatement
from app.services.tx import write_transaction

STALE_AFTER = timedelta(seconds=60)


@dataclass
class Replay:
    status: int
    body: str


def fingerprint(method: str, path: str, body: object) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> None:
    if not 1 <= len(key) <= 255 or not all(0x20 < ord(ch) < 0x7F for ch in key):
        raise InvalidInput("Idempotency-Key must be 1-255 printable ASCII characters", field="Idempotency-Key")


@write_transaction
def claim(user_id: int, key: str, print_: str, ttl_seconds: int) -> Replay | int:
    """The stored reply for a finished request, or the id of a fresh 'running' row."""
    now = utcnow()
    row = db.session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key).with_for_update()
    )
    if row is not None and row.expires_at <= now:
        db.session.delete(row)
        db.session.flush()
        row = None
    if row is None:
        row = IdempotencyKey(
            user_id=user_id, key=key, fingerprint=print_, state="running",
            created_at=now, expires_at=now + timedelta(seconds=ttl_seconds),
        )
        db.session.add(row)
        try:
            db.session.flush()
        except IntegrityError:
            raise  # a concurrent first use: the retry sees its row
        return row.id
    if row.fingerprint != print_:
        raise InvalidInput("This Idempotency-Key was used with a different request", field="Idempotency-Key")
    if row.state == "running":
        if now - row.created_at < STALE_AFTER:
            raise Conflict("A request with this Idempotency-Key is still being processed")
        row.created_at = now
        return row.id
    return Replay(row.response_status, row.response_body)


_KEYS = IdempotencyKey.__table__
# A HotStatement: it runs in whichever write transaction stores the reply, with or without the session.
_RECORD_OUTCOME = HotStatement(
    update(_KEYS)
    .where(_KEYS.c.id == bindparam("claim_id"))
    .values(state="done", response_status=bindparam("status"), response_body=bindparam("body"))
)


def record_outcome(claim_id: int, status: int, body: str) -> None:
    """Store the reply in the caller's transaction."""
    _RECORD_OUTCOME.execute({"claim_id": claim_id, "status": status, "body": body})


@write_transaction
def record_refusal(claim_id: int, status: int, body: str) -> None:
    record_outcome(claim_id, status, body)


@write_transaction
def release(claim_id: int) -> None:
    db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == claim_id))


@write_transaction
def purge_expired() -> int:
    return db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow())).rowcount
