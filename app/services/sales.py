"""Sales figures: the one definition of gross sales, refunds and net, and the running aggregate they are read
from (SalesPeriod), written in the transaction of each buy and refund and checked against the orders by the
audit.

The definition, used by every page, CSV and API total:

- gross: what the orders cost when they were bought, refunded ones included;
- refunds: what was paid back for them (a refund is always of the whole order);
- net: gross - refunds, the sales that stand.

A set of orders is counted by the UTC day the orders were bought: a refund changes the figures of its
order's day, whenever it is made.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, bindparam, case, false, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import Product, SalesPeriod
from app.models.sales import COUNTERS, EVERY

PERIODS = SalesPeriod.__table__
KEY = (PERIODS.c.product_id, PERIODS.c.seller_id, PERIODS.c.span, PERIODS.c.first_day)
STATUSES = ("paid", "refunded")


@dataclass(frozen=True)
class Totals:
    """The figures of a set of orders: how many orders and units, gross, refunds and net in cents."""

    orders: int
    units: int
    gross: int
    refunds: int
    refunded_orders: int = 0  # of `orders`

    @property
    def net(self) -> int:
        return self.gross - self.refunds

    @classmethod
    def from_counters(cls, counters, status: str | None = None) -> "Totals":
        """The figures of the orders counted (COUNTERS' order) that have `status`: "paid" (they stand),
        "refunded", or None for all of them. Whole-order refunds make the gross of the refunded orders
        equal to their refunds."""
        orders, units, gross, refunded_orders, refunded_units, refunds = (int(value or 0) for value in counters)
        if status == "paid":
            return cls(orders - refunded_orders, units - refunded_units, gross - refunds, 0, 0)
        if status == "refunded":
            return cls(refunded_orders, refunded_units, refunds, refunds, refunded_orders)
        return cls(orders, units, gross, refunds, refunded_orders)


NO_SALES = Totals(0, 0, 0, 0)


def of_order(order) -> Totals:
    """The figures of one order (an Order or a row with its columns)."""
    return Totals(1, order.amount, order.total_spent, order.refunded_amount, int(order.status == "refunded"))


def order_sums(orders) -> tuple[ColumnElement, ...]:
    """The counters of a set of rows of the orders table, as SQL sums in COUNTERS' order: what the aggregate
    holds for them (the buyer's own totals are summed so, and the audit checks the aggregate with them)."""
    refunded = orders.c.status == "refunded"
    return (
        func.count(orders.c.id),
        func.coalesce(func.sum(orders.c.amount), 0),
        func.coalesce(func.sum(orders.c.total_spent), 0),
        func.coalesce(func.sum(case((refunded, 1), else_=0)), 0),
        func.coalesce(func.sum(case((refunded, orders.c.amount), else_=0)), 0),
        func.coalesce(func.sum(orders.c.refunded_amount), 0),
    )


# ---------------------------------------------------------------- writing


def _upsert(dialect_name: str):
    """One INSERT ... ON CONFLICT DO UPDATE adding the counters to the six rows of a sale's day and month:
    its product's, its seller's and everyone's (the same syntax on both databases)."""
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    levels = ((bindparam("product_id"), bindparam("seller_id")), (EVERY, bindparam("seller_id")), (EVERY, EVERY))
    rows = [
        {"product_id": product, "seller_id": seller, "span": span, "first_day": bindparam(span),
         **{name: bindparam(name) for name in COUNTERS}}
        for product, seller in levels for span in ("day", "month")
    ]
    stmt = insert(PERIODS).values(rows)
    return stmt.on_conflict_do_update(index_elements=list(KEY),
                                      set_={name: PERIODS.c[name] + stmt.excluded[name] for name in COUNTERS})


UPSERT = {name: _upsert(name) for name in ("postgresql", "sqlite")}


def _record(seller_id: int | None, product_id: int, at: datetime, counters: dict[str, int]) -> None:
    if seller_id is None:
        return  # an order whose product had no seller (none is sold so): nobody to report it to
    day = at.astimezone(UTC).date()
    values = {"seller_id": seller_id, "product_id": product_id, "day": day, "month": day.replace(day=1),
              **dict.fromkeys(COUNTERS, 0), **counters}
    db.session.execute(UPSERT[db.session.get_bind().dialect.name], values)


def record_sale(*, seller_id: int | None, product_id: int, at: datetime, units: int, cents: int) -> None:
    """Count a sale bought at `at`, inside the buy's write transaction."""
    _record(seller_id, product_id, at, {"orders": 1, "units": units, "gross": cents})


def record_refund(order) -> None:
    """Count the refund of `order` on the day it was bought, inside the refund's write transaction."""
    _record(order.seller_id, order.product_id, order.created_at,
            {"refunded_orders": 1, "refunded_units": order.amount, "refunds": order.refunded_amount})


# ---------------------------------------------------------------- reading


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _in_range(since: date | None, until: date | None) -> ColumnElement:
    """The rows that hold the UTC days from `since` to `until` (inclusive; None: open) once each: the month
    rows of the whole months in the range and the day rows of the days at its ends (at most a month's days
    at each end), whatever its length."""
    if since is not None and until is not None and since > until:
        return false()
    months_from = None if since is None else (since if since.day == 1 else next_month(since))
    months_to = None if until is None else (next_month(until) if until + timedelta(days=1) == next_month(until)
                                            else until.replace(day=1))  # exclusive
    if months_from is not None and months_to is not None and months_from >= months_to:
        return _rows("day", since, until)  # no whole month in the range
    pieces = [_rows("month", months_from, None if months_to is None else months_to - timedelta(days=1))]
    if since is not None and since < months_from:
        pieces.append(_rows("day", since, months_from - timedelta(days=1)))
    if until is not None and months_to <= until:
        pieces.append(_rows("day", months_to, until))
    return or_(*pieces)


def _rows(span: str, first: date | None, last: date | None) -> ColumnElement:
    conditions = [PERIODS.c.span == span]
    if first is not None:
        conditions.append(PERIODS.c.first_day >= first)
    if last is not None:
        conditions.append(PERIODS.c.first_day <= last)
    return and_(*conditions)


def _of(seller_id: int | None, product_id: int | None) -> ColumnElement:
    """The rows of one product, one seller's (every product of theirs) or everyone's."""
    if EVERY in (seller_id, product_id):
        return false()  # no seller or product has the id that stands for all of them
    if product_id is not None:
        rows = PERIODS.c.product_id == product_id
        return rows if seller_id is None else and_(rows, PERIODS.c.seller_id == seller_id)
    return and_(PERIODS.c.product_id == EVERY, PERIODS.c.seller_id == (EVERY if seller_id is None else seller_id))


def _sums():
    return [func.coalesce(func.sum(PERIODS.c[name]), 0) for name in COUNTERS]


def totals(*, seller_id: int | None = None, product_id: int | None = None, since: date | None = None,
           until: date | None = None, status: str | None = None) -> Totals:
    """The figures of the sales between two UTC days (inclusive; None: open) of one seller or everyone, of
    one product or all, of one status or both."""
    stmt = select(*_sums()).where(_of(seller_id, product_id), _in_range(since, until))
    return Totals.from_counters(db.session.execute(stmt).one(), status)


def first_month(*, seller_id: int | None = None, product_id: int | None = None) -> date | None:
    """The first month with a sale, or None."""
    return db.session.scalar(
        select(func.min(PERIODS.c.first_day)).where(_of(seller_id, product_id), PERIODS.c.span == "month"))


@dataclass
class PeriodSales:
    first_day: date  # the day, or the first day of the month
    totals: Totals


def series(*, seller_id: int | None, product_id: int | None, since: date, until: date, span: str,
           status: str | None = None) -> list[PeriodSales]:
    """The figures of every day or every month (`span`) from `since` to `until`, oldest first, a period
    without sales as zeros; months at the ends count only their days in the range."""
    counted: dict[date, list[int]] = {}
    stmt = select(PERIODS.c.first_day, *(PERIODS.c[name] for name in COUNTERS)).where(
        _of(seller_id, product_id), _rows("day", since, until) if span == "day" else _in_range(since, until))
    for first_day, *counters in db.session.execute(stmt):
        period = first_day if span == "day" else first_day.replace(day=1)
        sums = counted.setdefault(period, [0] * len(COUNTERS))
        for i, value in enumerate(counters):
            sums[i] += value
    periods, period = [], since if span == "day" else since.replace(day=1)
    while period <= until:
        periods.append(PeriodSales(period, Totals.from_counters(counted.get(period, [0] * len(COUNTERS)), status)))
        period = period + timedelta(days=1) if span == "day" else next_month(period)
    return periods


@dataclass
class ProductSales:
    product_id: int
    product_name: str
    totals: Totals


def by_product(*, seller_id: int, product_id: int | None = None, since: date | None, until: date | None,
               status: str | None = None) -> list[ProductSales]:
    """The figures per product of a seller's sales in the range, best (highest net) first."""
    rows = PERIODS.c.product_id != EVERY if product_id is None else PERIODS.c.product_id == product_id
    per_product = (
        select(PERIODS.c.product_id, *(func.sum(PERIODS.c[name]).label(name) for name in COUNTERS))
        .where(PERIODS.c.seller_id == seller_id, rows, _in_range(since, until))
        .group_by(PERIODS.c.product_id)
        .subquery("per_product")
    )
    # the names of the products sold, looked up one by one after the sums: a join let the planner read every
    # product (a hash join, 20 ms at 20,000 products) for the few a seller sold
    name = select(Product.product_name).where(Product.id == per_product.c.product_id).scalar_subquery()
    stmt = select(per_product, name.label("product_name"))
    found = [ProductSales(row.product_id, row.product_name or f"Product #{row.product_id}",
                          Totals.from_counters([getattr(row, name) for name in COUNTERS], status))
             for row in db.session.execute(stmt)]
    return sorted(found, key=lambda p: (-p.totals.net, -p.totals.refunds, p.product_id))
