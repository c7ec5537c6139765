from datetime import date

from sqlalchemy import Date, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db

COUNTERS = ("orders", "units", "revenue", "refunded_orders", "refunded_units", "refunded_revenue")


class SalesDay(db.Model):
    """A seller's sales of one product on one day (UTC), kept up to date in the transaction of each
    buy and refund, so totals and charts cost the same at 500,000 sales as at 200. `flask audit`
    checks every row against the orders.

    orders/units/revenue count the sales that stand (paid); refunded_* those paid back since.
    """

    __tablename__ = "sales_days"
    __table_args__ = (
        # A seller's window (their page and chart) and everyone's (the operator's totals), each answered from
        # the index alone on PostgreSQL (the counters ride along): without them the planner preferred walking
        # the day index, which the table's insertion order keeps cheap to follow, over the seller's rows.
        Index("ix_sales_days_seller_id_day", "seller_id", "day", postgresql_include=["product_id", *COUNTERS]),
        Index("ix_sales_days_day", "day", postgresql_include=["seller_id", "product_id", *COUNTERS]),
    )

    seller_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    product_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, default=0)
    units: Mapped[int] = mapped_column(Integer, default=0)
    revenue: Mapped[int] = mapped_column(Integer, default=0)
    refunded_orders: Mapped[int] = mapped_column(Integer, default=0)
    refunded_units: Mapped[int] = mapped_column(Integer, default=0)
    refunded_revenue: Mapped[int] = mapped_column(Integer, default=0)
