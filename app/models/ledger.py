from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.coins import COINS
from app.models.columns import NEVER_REUSED, BigId, UTCDateTime, utcnow


class LedgerEntry(db.Model):
    """Append-only record of every movement of coins, written in the movement's transaction.

    `kind` says where the coins went: coin_inserted (outside -> escrow), escrow_to_tubes,
    change_paid / refund_paid (tubes -> outside), escrow_returned (escrow -> outside),
    float_loaded and tubes_set (admin; counts are signed deltas of the tubes).
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (NEVER_REUSED,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    order_id: Mapped[int | None] = mapped_column(BigId, index=True)
    c5: Mapped[int] = mapped_column(Integer, default=0)
    c10: Mapped[int] = mapped_column(Integer, default=0)
    c20: Mapped[int] = mapped_column(Integer, default=0)
    c50: Mapped[int] = mapped_column(Integer, default=0)
    c100: Mapped[int] = mapped_column(Integer, default=0)
    cents: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def coins(self) -> dict[int, int]:
        return {coin: getattr(self, f"c{coin}") for coin in COINS}
