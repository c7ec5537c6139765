from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.columns import NEVER_REUSED, BigId, UTCDateTime, utcnow


class Order(db.Model):
    """A purchase, with a snapshot that outlives the product and the users."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('paid', 'refunded')", name="status_valid"),
        # One per list, matching its filter and its order (newest first), so a page costs the same
        # at any depth of a history (keyset pagination, app.data.pages).
        Index("ix_orders_created_at_id", "created_at", "id"),
        Index("ix_orders_buyer_id_created_at_id", "buyer_id", "created_at", "id"),
        Index("ix_orders_seller_id_created_at_id", "seller_id", "created_at", "id"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Plain ids, not foreign keys: the history survives deletion of products and users.
    buyer_id: Mapped[int] = mapped_column(Integer)
    seller_id: Mapped[int | None] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(Integer, index=True)
    buyer_username: Mapped[str] = mapped_column(String(32))
    seller_username: Mapped[str | None] = mapped_column(String(32))
    product_name: Mapped[str] = mapped_column(String(64))
    unit_cost: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)
    total_spent: Mapped[int] = mapped_column(Integer)
    paid_in: Mapped[int] = mapped_column(Integer)
    change: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(10), default="paid")
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)
    refund_change: Mapped[list | None] = mapped_column(JSON, nullable=True)
    refundable: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
