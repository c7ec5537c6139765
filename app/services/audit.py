"""flask audit: check that no cent and no item was lost or created.

Every check is a SQL aggregate or a query that returns only the rows in breach, so the audit's
memory does not grow with the history and the database does the counting (2 million orders in
seconds). A breach list is capped per check (BREACHES_SHOWN), with the number left out.
"""

from dataclasses import dataclass, field

from sqlalchemy import Date, Integer, Select, and_, case, cast, func, literal, or_, select, text
from sqlalchemy.sql import ColumnElement

from app.extensions import db
from app.models import CoinTube, LedgerEntry, Order, Product, SalesPeriod, User
from app.models.sales import COUNTERS, EVERY
from app.services import sales
from app.services.coins import COINS

# How each ledger kind moves coins: (sign on the tubes, sign on escrow).
LEDGER_EFFECTS = {
    "float_loaded": (1, 0),
    "tubes_set": (1, 0),
    "coin_inserted": (0, 1),
    "escrow_to_tubes": (1, -1),
    "change_paid": (-1, 0),
    "refund_paid": (-1, 0),
    "escrow_returned": (0, -1),
}
BREACHES_SHOWN = 50


@dataclass
class AuditReport:
    breaches: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.breaches

    def render(self) -> str:
        lines = [f"checked {name}: {count}" for name, count in self.checked.items()]
        if self.clean:
            lines.append("audit clean: every cent and every item is accounted for")
        else:
            lines.append(f"AUDIT FAILED: {len(self.breaches)} breach(es)")
            lines += [f"  - {breach}" for breach in self.breaches]
        return "\n".join(lines)

    def add(self, found: list[str], more: int = 0) -> None:
        self.breaches += found
        if more:
            self.breaches.append(f"... and {more} more of the kind above")


# The audit's joins and aggregates over millions of rows, in memory rather than spilled to disk (PostgreSQL's
# default work_mem is 4 MB); for this transaction only.
AUDIT_WORK_MEM = "64MB"


def run_audit() -> AuditReport:
    report = AuditReport()
    try:
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(text(f"SET LOCAL work_mem = '{AUDIT_WORK_MEM}'"))
        _check_escrow(report)
        _check_tubes(report)
        _check_orders(report)
        _check_stock(report)
        _check_sales_aggregate(report)
    finally:
        db.session.rollback()
    return report


def _capped(stmt) -> tuple[list, int]:
    """The first BREACHES_SHOWN rows of a breach query, and how many more there are. Read as a stream, not
    with a LIMIT: a LIMIT makes the planner walk an index row by row, hoping to stop early, where reading the
    whole table once is what it takes when there is nothing to find (the usual case)."""
    shown, more = [], 0
    for row in db.session.execute(stmt.execution_options(yield_per=1000)):
        if len(shown) < BREACHES_SHOWN:
            shown.append(row)
        else:
            more += 1
    return shown, more


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _escrow_value(table) -> ColumnElement:
    return sum((table.c[f"escrow_{coin}"] * coin for coin in COINS), literal(0))


def _check_escrow(report: AuditReport) -> None:
    users = User.__table__
    report.checked["users"] = _count(User)
    negative = or_(*(users.c[f"escrow_{coin}"] < 0 for coin in COINS))
    rows, more = _capped(
        select(users.c.id, users.c.username, users.c.deposit, _escrow_value(users).label("worth"),
               negative.label("neg"), *(users.c[f"escrow_{coin}"] for coin in COINS))
        .where(or_(negative, users.c.deposit != _escrow_value(users)))
        .order_by(users.c.id)
    )
    found = []
    for row in rows:
        if row.neg:
            coins = {coin: getattr(row, f"escrow_{coin}") for coin in COINS}
            found.append(f"user {row.id} ({row.username}) has a negative escrow count {coins}")
        if row.deposit != row.worth:
            found.append(f"user {row.id} ({row.username}) deposit {row.deposit} != escrowed coins worth {row.worth}")
    report.add(found, more)
    # the coins in escrow, per kind, against what the ledger says went in and out of live users' escrow
    held = db.session.execute(select(*(func.coalesce(func.sum(users.c[f"escrow_{c}"]), 0) for c in COINS))).one()
    ledger = LedgerEntry.__table__
    sign = case({kind: effect[1] for kind, effect in LEDGER_EFFECTS.items() if effect[1]}, value=ledger.c.kind, else_=0)
    moved = db.session.execute(
        select(*(func.coalesce(func.sum(ledger.c[f"c{coin}"] * sign), 0) for coin in COINS))
        .where(ledger.c.user_id.in_(select(users.c.id)))
    ).one()
    for coin, escrow, said in zip(COINS, held, moved, strict=True):
        if int(escrow) != int(said):
            report.breaches.append(f"escrow holds {int(escrow)} x {coin}c but the ledger says {int(said)}")


def _check_tubes(report: AuditReport) -> None:
    tubes = {coin: count for coin, count in db.session.execute(select(CoinTube.coin, CoinTube.count))}
    ledger = LedgerEntry.__table__
    sign = case({kind: effect[0] for kind, effect in LEDGER_EFFECTS.items() if effect[0]}, value=ledger.c.kind, else_=0)
    expected = db.session.execute(select(*(func.coalesce(func.sum(ledger.c[f"c{c}"] * sign), 0) for c in COINS))).one()
    report.checked["coin kinds"] = len(COINS)
    for coin, said in zip(COINS, expected, strict=True):
        actual = tubes.get(coin, 0)
        if actual < 0:
            report.breaches.append(f"the {coin}c tube holds a negative count {actual}")
        if actual != int(said):
            report.breaches.append(f"the {coin}c tube holds {actual} but the ledger says {int(said)}")


def _coins_sum(json_column) -> ColumnElement:
    """The cents of a JSON list of coins, summed by the database (a correlated scalar subquery)."""
    if db.session.get_bind().dialect.name == "postgresql":
        coins = func.json_array_elements_text(json_column).table_valued("value")
        return select(func.coalesce(func.sum(cast(coins.c.value, Integer)), 0)).scalar_subquery()
    coins = func.json_each(json_column).table_valued("value")
    return select(func.coalesce(func.sum(coins.c.value), 0)).scalar_subquery()


def _ledger_cents(kind: str):
    ledger = LedgerEntry.__table__
    return (
        select(ledger.c.order_id, func.sum(ledger.c.cents).label("cents"))
        .where(ledger.c.kind == kind)
        .group_by(ledger.c.order_id)
        .subquery(kind)
    )


def _check_orders(report: AuditReport) -> None:
    orders = Order.__table__
    report.checked["orders"] = _count(Order)
    rows, more = _capped(
        select(orders.c.id, orders.c.unit_cost, orders.c.amount, orders.c.total_spent)
        .where(orders.c.total_spent != orders.c.unit_cost * orders.c.amount).order_by(orders.c.id)
    )
    report.add([f"order {r.id}: total {r.total_spent} != {r.unit_cost} x {r.amount}" for r in rows], more)

    change = select(orders.c.id, orders.c.total_spent, orders.c.paid_in,
                    _coins_sum(orders.c.change).label("change")).subquery("with_change")
    rows, more = _capped(
        select(change).where(change.c.change + change.c.total_spent != change.c.paid_in).order_by(change.c.id)
    )
    report.add([f"order {r.id}: change {r.change} + total {r.total_spent} != paid in {r.paid_in}" for r in rows], more)

    paid = _ledger_cents("escrow_to_tubes")
    rows, more = _capped(
        select(orders.c.id, orders.c.paid_in, func.coalesce(paid.c.cents, 0).label("cents"))
        .join(paid, paid.c.order_id == orders.c.id, isouter=True)
        .where(func.coalesce(paid.c.cents, 0) != orders.c.paid_in).order_by(orders.c.id)
    )
    report.add([f"order {r.id}: ledger shows {r.cents} paid in, order says {r.paid_in}" for r in rows], more)

    refunded = (
        select(orders.c.id, orders.c.total_spent, _coins_sum(orders.c.refund_change).label("refund"))
        .where(orders.c.status == "refunded").subquery("refunded")
    )
    rows, more = _capped(select(refunded).where(refunded.c.refund != refunded.c.total_spent).order_by(refunded.c.id))
    report.add([f"order {r.id}: refunded {r.refund} of {r.total_spent}" for r in rows], more)

    # A refund is of the whole order (the sales figures count on it): refunded_amount is all or nothing.
    whole = case((orders.c.status == "refunded", orders.c.total_spent), else_=0)
    rows, more = _capped(select(orders.c.id, orders.c.status, orders.c.total_spent, orders.c.refunded_amount)
                         .where(orders.c.refunded_amount != whole).order_by(orders.c.id))
    report.add([f"order {r.id} ({r.status}): refunded amount {r.refunded_amount} of {r.total_spent}" for r in rows],
               more)


def _sold_units():
    """Units sold and kept (paid orders) per product."""
    orders = Order.__table__
    kept = case((orders.c.status == "paid", orders.c.amount), else_=0)
    return select(orders.c.product_id, func.sum(kept).label("units")).group_by(orders.c.product_id).subquery("sold")


def _check_stock(report: AuditReport) -> None:
    products = Product.__table__
    report.checked["products"] = _count(Product)
    sold = _sold_units()
    units = func.coalesce(sold.c.units, 0)
    rows, more = _capped(
        select(products.c.id, products.c.product_name, products.c.amount_available, products.c.units_stocked,
               units.label("sold"))
        .join(sold, sold.c.product_id == products.c.id, isouter=True)
        .where(or_(products.c.amount_available < 0,
                   products.c.amount_available + units != products.c.units_stocked))
        .order_by(products.c.id)
    )
    found = []
    for r in rows:
        if r.amount_available < 0:
            found.append(f"product {r.id} has negative stock {r.amount_available}")
        if r.amount_available + int(r.sold) != r.units_stocked:
            found.append(f"product {r.id} ({r.product_name}): stock {r.amount_available} + units sold and kept "
                         f"{int(r.sold)} != units stocked {r.units_stocked}")
    report.add(found, more)


def utc_day(column) -> ColumnElement:
    """The UTC calendar day of a timestamp column, in the database."""
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def month_of(column) -> ColumnElement:
    """The first day of the month of a date column, in the database."""
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("month", column), Date)
    return func.date(column, "start of month")


def _check_sales_aggregate(report: AuditReport) -> None:
    """Every row of the running sales totals equals what it sums, and nothing it should sum lacks its row:
    a product's days equal its orders; its months, a seller's days and everyone's days equal the rows
    they add up (a seller's and everyone's months likewise), so every row equals its orders."""
    periods = SalesPeriod.__table__
    orders = Order.__table__
    report.checked["sales periods"] = _count(SalesPeriod)
    p, s, span, first = periods.c.product_id, periods.c.seller_id, periods.c.span, periods.c.first_day
    day = utc_day(orders.c.created_at)
    levels = (
        # (their span, the rows checked, what they must equal, named as)
        ("day", and_(span == "day", p != EVERY),
         select(orders.c.product_id, orders.c.seller_id, day, *sales.order_sums(orders))
         .where(orders.c.seller_id.is_not(None)).group_by(orders.c.product_id, orders.c.seller_id, day),
         "the orders"),
        ("month", and_(span == "month", p != EVERY),
         _sums_of(periods, p, s, month_of(first), and_(span == "day", p != EVERY)), "the product's days"),
        ("day", and_(span == "day", p == EVERY, s != EVERY),
         _sums_of(periods, literal(EVERY), s, first, and_(span == "day", p != EVERY)), "the seller's products"),
        ("month", and_(span == "month", p == EVERY, s != EVERY),
         _sums_of(periods, literal(EVERY), s, month_of(first), and_(span == "day", p == EVERY, s != EVERY)),
         "the seller's days"),
        ("day", and_(span == "day", p == EVERY, s == EVERY),
         _sums_of(periods, literal(EVERY), literal(EVERY), first, and_(span == "day", p == EVERY, s != EVERY)),
         "the sellers' days"),
        ("month", and_(span == "month", p == EVERY, s == EVERY),
         _sums_of(periods, literal(EVERY), literal(EVERY), month_of(first), and_(span == "day", p == EVERY,
                                                                                  s == EVERY)),
         "everyone's days"),
    )
    for level_span, checked, source, named in levels:
        _compare(report, periods, level_span, checked, source, named)
    rows, more = _capped(select(p, s, span, first).where(s == EVERY, p != EVERY).order_by(p, first))
    report.add([f"sales of product {r.product_id} on the {r.span} of {r.first_day} have no seller" for r in rows],
               more)


def _sums_of(periods, product_id, seller_id, first_day, rows) -> Select:
    """The counters of `rows` of the aggregate added up per (product_id, seller_id, first_day)."""
    return (select(product_id, seller_id, first_day, *(func.sum(periods.c[name]) for name in COUNTERS))
            .where(rows).group_by(product_id, seller_id, first_day))


def _compare(report: AuditReport, periods, span: str, checked, source: Select, named: str) -> None:
    """Breaches where the aggregate's `checked` rows and `source` (product_id, seller_id, first_day and
    COUNTERS, in that order) differ, a row missing on either side counting as zeros."""
    real = source.subquery("real")
    real_product, real_seller, real_first, *real_counters = real.c
    kept = select(periods).where(checked).subquery("kept")
    same_key = and_(kept.c.product_id == real_product, kept.c.seller_id == real_seller,
                    kept.c.first_day == real_first)
    differs = or_(*(func.coalesce(kept.c[name], 0) != func.coalesce(column, 0)
                    for name, column in zip(COUNTERS, real_counters, strict=True)))
    key = (func.coalesce(kept.c.product_id, real_product).label("product_id"),
           func.coalesce(kept.c.seller_id, real_seller).label("seller_id"),
           func.coalesce(kept.c.first_day, real_first).label("first_day"))
    rows, more = _capped(
        select(*key,
               *(func.coalesce(kept.c[name], 0).label(f"kept_{name}") for name in COUNTERS),
               *(func.coalesce(column, 0).label(f"real_{name}") for name, column in zip(COUNTERS, real_counters,
                                                                                        strict=True)))
        .select_from(kept.join(real, same_key, full=True))
        .where(differs)
        .order_by(*key)
    )
    report.add([
        f"sales of {_whose(r.product_id, r.seller_id)} in the {span} of {r.first_day}: the running totals say "
        f"{_figures(r, 'kept')}; {named} say {_figures(r, 'real')}"
        for r in rows
    ], more)


def _whose(product_id: int, seller_id: int) -> str:
    if seller_id == EVERY:
        return "every seller"
    return f"seller {seller_id}, " + ("every product" if product_id == EVERY else f"product {product_id}")


def _figures(row, side: str) -> str:
    orders, units, gross, refunded_orders, refunded_units, refunds = (
        int(getattr(row, f"{side}_{name}")) for name in COUNTERS)
    return (f"{orders} orders, {units} units, {gross} cents gross, {refunded_orders} refunded "
            f"({refunded_units} units, {refunds} cents)")
