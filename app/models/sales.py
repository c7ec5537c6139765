from datetime import date

from sqlalchemy import BigInteger, CheckConstraint, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db

COUNTERS = ("orders", "units", "gross", "refunded_orders", "refunded_units", "refunds")
EVERY = 0  # the seller_id or product_id of a row that sums every seller or every product
SPANS = ("day", "month")


class SalesPeriod(db.Model):
    """The sales of one day or one month (UTC), kept up to date in the transaction of each buy and refund,
    at three levels: a seller's product, a seller (product_id 0: every product of theirs) and everyone
    (seller_id 0 and product_id 0). A buy or a refund adds to the six rows of its order's day and month in
    one statement (app.services.sales), so a total over any range reads a few whole months and the days at
    its ends, at any size of history. `flask audit` checks every row against the orders.

    orders/units/gross count every order when it is bought; refunded_orders/refunded_units/refunds those
    paid back since (a refund is always of the whole order). The figures read from them are defined once,
    in app.services.sales.
    """

    __tablename__ = "sales_periods"
    __table_args__ = (
        CheckConstraint("span IN ('day', 'month')", name="span_valid"),
        # A seller's products in a window (their per-product table), which the key cannot find.
        Index("ix_sales_periods_seller_id_span_first_day", "seller_id", "span", "first_day"),
    )

    # The key leads with the product: one product's rows (its seller need not be known), a seller's
    # (product 0) and everyone's (0, 0) are each one range of it, by span and first day.
    product_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seller_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    span: Mapped[str] = mapped_column(String(5), primary_key=True)
    first_day: Mapped[date] = mapped_column(Date, primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, default=0)
    units: Mapped[int] = mapped_column(BigInteger, default=0)
    gross: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_orders: Mapped[int] = mapped_column(Integer, default=0)
    refunded_units: Mapped[int] = mapped_column(BigInteger, default=0)
    refunds: Mapped[int] = mapped_column(BigInteger, default=0)
