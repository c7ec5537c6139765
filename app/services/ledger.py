"""The ledger: the one writer of its append-only rows, in the transaction of the coins' movement."""

from datetime import datetime

from sqlalchemy import insert

from app.extensions import db
from app.models import LedgerEntry
from app.models.columns import utcnow
from app.services.coins import COINS, coins_value


def entry(kind: str, coins: dict[int, int], *, user_id: int | None = None, order_id: int | None = None,
          at: datetime | None = None) -> dict:
    """One ledger row's values (see LedgerEntry for the kinds)."""
    return {
        "kind": kind,
        "user_id": user_id,
        "order_id": order_id,
        "cents": coins_value(coins),
        "created_at": at or utcnow(),
        **{f"c{coin}": coins.get(coin, 0) for coin in COINS},
    }


LEDGER = LedgerEntry.__table__
INSERT = insert(LEDGER)


def record(*entries: dict) -> None:
    """Write the entries (inside the caller's write transaction), in one round trip: several rows go
    as one executemany, whose statement SQLAlchemy compiles once and caches, unlike a multi-VALUES one."""
    db.session.execute(INSERT, list(entries) if len(entries) > 1 else entries[0])
