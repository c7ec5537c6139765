from sqlalchemy import CheckConstraint, Integer, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class CoinTube(db.Model):
    """How many coins of one kind the machine holds to pay change from."""

    __tablename__ = "coin_tubes"
    __table_args__ = (
        CheckConstraint("coin IN (5, 10, 20, 50, 100)", name="coin_valid"),
        CheckConstraint("count >= 0", name="count_non_negative"),
        CheckConstraint("low_at >= 0", name="low_at_non_negative"),
    )

    coin: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)
    # The operator's warning level: a tube holding this many coins or fewer is shown as low.
    low_at: Mapped[int] = mapped_column(Integer, default=5, server_default=text("5"))
