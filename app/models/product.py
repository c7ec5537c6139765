from datetime import datetime

from sqlalchemy import DDL, Boolean, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, event, text
from sqlalchemy.orm import Mapped, deferred, mapped_column

from app.extensions import db
from app.models.columns import NEVER_REUSED, UTCDateTime, utcnow


class Product(db.Model):
    """A product on (or taken off) sale. Deleted products stay for the order history."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("cost > 0 AND cost % 5 = 0 AND cost <= 100000", name="cost_valid"),
        # No upper bound: the cap (STOCK_MAX) is on what sellers type; a refund brings its units back whatever it is.
        CheckConstraint("amount_available >= 0", name="stock_valid"),
        CheckConstraint("low_stock_at >= 0 AND low_stock_at <= 10000", name="low_stock_at_valid"),
        Index(
            "uq_products_name_on_sale",
            "name_key",
            unique=True,
            sqlite_where=text("on_sale"),
            postgresql_where=text("on_sale"),
        ),
        # The catalogue's name search (LIKE '%...%') through trigrams on PostgreSQL; SQLite scans.
        Index(
            "ix_products_name_key_trgm", "name_key", postgresql_using="gin", postgresql_ops={"name_key": "gin_trgm_ops"}
        ).ddl_if(dialect="postgresql"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64))
    cost: Mapped[int] = mapped_column(Integer)
    amount_available: Mapped[int] = mapped_column(Integer, default=0)
    # Net units the seller has put in (creation plus restocks minus removals); audited.
    units_stocked: Mapped[int] = mapped_column(Integer, default=0)
    seller_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    refundable: Mapped[bool] = mapped_column(Boolean, default=False)
    # The seller's warning level: at or below this many units (and above none) the product shows "low stock".
    low_stock_at: Mapped[int] = mapped_column(Integer, default=3, server_default=text("3"))
    on_sale: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    image: Mapped[bytes | None] = deferred(mapped_column(LargeBinary, nullable=True))
    image_mime: Mapped[str | None] = mapped_column(String(32), nullable=True)
    image_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def has_image(self) -> bool:
        return self.image_mime is not None


event.listen(
    Product.__table__, "before_create", DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql")
)
