from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models._types import UTCDateTime, utcnow
from app.services.coins import COINS


class LedgerEntry(db.Model):
    """Append-only record of every movement of coins, written in the movement's transaction.

    `kind` says where the coins went: coin_inserted (outside -> escrow), escrow_to_tubes,
    change_paid / refund_paid (tubes -> outside), escrow_returned (escrow -> outside),
    float_loaded and tubes_set (admin; counts are signed deltas of the tubes).
    """

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    order_id: Mapped[int | None] = mapped_column(Integer, index=True)
    c5: Mapped[int] = mapped_column(Integer, default=0)
    c10: Mapped[int] = mapped_column(Integer, default=0)
    c20: Mapped[int] = mapped_column(Integer, default=0)
    c50: Mapped[int] = mapped_column(Integer, default=0)
    c100: Mapped[int] = mapped_column(Integer, default=0)
    cents: Mapped[int] = mapped_column(Integer, default=0)

    @classmethod
    def of(cls, kind: str, coins: dict[int, int], *, user_id=None, order_id=None) -> "LedgerEntry":
        return cls(**cls.row(kind, coins, user_id=user_id, order_id=order_id))

    @staticmethod
    def row(kind: str, coins: dict[int, int], *, user_id=None, order_id=None, created_at=None) -> dict:
        """The entry's column values, for an INSERT statement on the hot money path."""
        values = {
            "kind": kind,
            "user_id": user_id,
            "order_id": order_id,
            "cents": sum(coin * n for coin, n in coins.items()),
            **{f"c{coin}": coins.get(coin, 0) for coin in COINS},
        }
        if created_at is not None:
            values["created_at"] = created_at
        return values

    @property
    def coins(self) -> dict[int, int]:
        return {coin: getattr(self, f"c{coin}") for coin in COINS}
