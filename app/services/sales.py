"""The running sales aggregate (SalesDay): written in the transaction of each buy and refund, read by
the sellers' and the operator's totals and charts, checked against the orders by the audit."""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import Product, SalesDay
from app.models.sales import COUNTERS

DAYS = SalesDay.__table__
_COUNTERS = COUNTERS


def _upsert(dialect_name: str):
    """INSERT ... ON CONFLICT DO UPDATE adding to the counters (the same syntax on both databases)."""
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    stmt = insert(DAYS)
    return stmt.on_conflict_do_update(
        index_elements=[DAYS.c.seller_id, DAYS.c.product_id, DAYS.c.day],
        set_={name: DAYS.c[name] + stmt.excluded[name] for name in _COUNTERS},
    )


UPSERT = {name: _upsert(name) for name in ("postgresql", "sqlite")}


def record(*, seller_id: int | None, product_id: int, at: datetime, **counters: int) -> None:
    """Add `counters` (orders=1, units=2, ...) to the day of `at` of one seller's product, inside the
    caller's write transaction. The day is the UTC day of the order, also for its refund."""
    if seller_id is None:
        return  # an order whose product had no seller (none is sold so): nobody to report it to
    values = {"seller_id": seller_id, "product_id": product_id, "day": at.astimezone(UTC).date(),
              **dict.fromkeys(_COUNTERS, 0), **counters}
    db.session.execute(UPSERT[db.session.get_bind().dialect.name], values)


@dataclass
class Totals:
    orders: int
    units: int
    revenue: int


@dataclass
class DaySales:
    day: date
    orders: int
    units: int
    revenue: int


@dataclass
class ProductSales:
    product_id: int
    product_name: str
    orders: int
    units: int
    revenue: int


def _window(stmt, *, seller_id: int | None, product_id: int | None, since: date | None, until: date | None):
    if seller_id is not None:
        stmt = stmt.where(DAYS.c.seller_id == seller_id)
    if product_id is not None:
        stmt = stmt.where(DAYS.c.product_id == product_id)
    if since is not None:
        stmt = stmt.where(DAYS.c.day >= since)
    if until is not None:
        stmt = stmt.where(DAYS.c.day <= until)
    return stmt


def totals(*, seller_id: int | None = None, product_id: int | None = None, since: date | None = None,
           until: date | None = None, status: str | None = None) -> Totals:
    """Orders, units and cents of the sales in the window: "paid" (they stand), "refunded", or both."""
    paid = (DAYS.c.orders, DAYS.c.units, DAYS.c.revenue)
    refunded = (DAYS.c.refunded_orders, DAYS.c.refunded_units, DAYS.c.refunded_revenue)
    both = tuple(a + b for a, b in zip(paid, refunded, strict=True))
    columns = {"paid": paid, "refunded": refunded}.get(status, both)
    stmt = _window(select(*(func.coalesce(func.sum(c), 0) for c in columns)),
                   seller_id=seller_id, product_id=product_id, since=since, until=until)
    orders, units, revenue = db.session.execute(stmt).one()
    return Totals(int(orders), int(units), int(revenue))


def by_day(*, seller_id: int | None, since: date, until: date) -> list[DaySales]:
    """Paid sales per day of the window, oldest first (days without sales left out)."""
    stmt = _window(
        select(DAYS.c.day, func.sum(DAYS.c.orders), func.sum(DAYS.c.units), func.sum(DAYS.c.revenue))
        .group_by(DAYS.c.day).order_by(DAYS.c.day),
        seller_id=seller_id, product_id=None, since=since, until=until,
    )
    return [DaySales(day, int(o), int(u), int(r)) for day, o, u, r in db.session.execute(stmt)]


def by_product(*, seller_id: int | None, since: date, until: date) -> list[ProductSales]:
    """Paid sales per product in the window, best first."""
    per_product = _window(
        select(DAYS.c.product_id, func.sum(DAYS.c.orders).label("orders"), func.sum(DAYS.c.units).label("units"),
               func.sum(DAYS.c.revenue).label("revenue"))
        .group_by(DAYS.c.product_id),
        seller_id=seller_id, product_id=None, since=since, until=until,
    ).subquery("per_product")
    # the names of the products sold, looked up after the sums (not joined to every day of every product)
    stmt = (
        select(per_product, Product.product_name)
        .join(Product, Product.id == per_product.c.product_id, isouter=True)
        .order_by(per_product.c.revenue.desc(), per_product.c.product_id)
    )
    return [ProductSales(row.product_id, row.product_name or f"Product #{row.product_id}", int(row.orders),
                         int(row.units), int(row.revenue)) for row in db.session.execute(stmt)]
