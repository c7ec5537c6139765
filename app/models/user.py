import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.coins import COINS
from app.models.columns import NEVER_REUSED, UTCDateTime, utcnow


class Role(enum.StrEnum):
    BUYER = "buyer"
    SELLER = "seller"
    ADMIN = "admin"


class User(db.Model):
    """A person or program using the machine. A buyer's inserted coins are held here in escrow."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('buyer', 'seller', 'admin')", name="role_valid"),
        CheckConstraint("deposit >= 0", name="deposit_non_negative"),
        CheckConstraint(
            "escrow_5 >= 0 AND escrow_10 >= 0 AND escrow_20 >= 0 AND escrow_50 >= 0 AND escrow_100 >= 0",
            name="escrow_non_negative",
        ),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    username_key: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(10))
    deposit: Mapped[int] = mapped_column(Integer, default=0)
    escrow_5: Mapped[int] = mapped_column(Integer, default=0)
    escrow_10: Mapped[int] = mapped_column(Integer, default=0)
    escrow_20: Mapped[int] = mapped_column(Integer, default=0)
    escrow_50: Mapped[int] = mapped_column(Integer, default=0)
    escrow_100: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def escrowed_coins(self) -> dict[int, int]:
        return {coin: getattr(self, f"escrow_{coin}") or 0 for coin in COINS}
