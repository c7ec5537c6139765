"""flask audit: check that no cent and no item was lost or created.

Every check is a SQL aggregate or a query that returns only the rows in breach, so the audit's
memory does not grow with the history and the database does the counting (2 million orders in
seconds). A breach list is capped per check (BREACHES_SHOWN), with the number left out.
"""

from dataclasses import dataclass, field

from sqlalchemy import Date, Integer, and_, case, cast, func, literal, or_, select, text
from sqlalchemy.sql import ColumnElement

from app.extensions import db
from app.models import CoinTube, LedgerEntry, Order, Product, SalesDay, User
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


_SALES_COUNTERS = ("orders", "units", "revenue", "refunded_orders", "refunded_units", "refunded_revenue")


def _check_sales_aggregate(report: AuditReport) -> None:
    """Every row of the running sales totals equals its orders, and no orders lack their row."""
    orders = Order.__table__
    days = SalesDay.__table__
    report.checked["sales days"] = _count(SalesDay)
    paid, refunded = orders.c.status == "paid", orders.c.status == "refunded"
    day = utc_day(orders.c.created_at)
    from_orders = (
        select(
            orders.c.seller_id, orders.c.product_id, day.label("day"),
            func.sum(case((paid, 1), else_=0)).label("orders"),
            func.sum(case((paid, orders.c.amount), else_=0)).label("units"),
            func.sum(case((paid, orders.c.total_spent), else_=0)).label("revenue"),
            func.sum(case((refunded, 1), else_=0)).label("refunded_orders"),
            func.sum(case((refunded, orders.c.amount), else_=0)).label("refunded_units"),
            func.sum(case((refunded, orders.c.total_spent), else_=0)).label("refunded_revenue"),
        )
        .where(orders.c.seller_id.is_not(None))
        .group_by(orders.c.seller_id, orders.c.product_id, day)
        .subquery("from_orders")
    )
    same_key = and_(days.c.seller_id == from_orders.c.seller_id, days.c.product_id == from_orders.c.product_id,
                    days.c.day == from_orders.c.day)
    differs = or_(*(func.coalesce(days.c[name], 0) != func.coalesce(from_orders.c[name], 0)
                    for name in _SALES_COUNTERS))
    key = (func.coalesce(days.c.seller_id, from_orders.c.seller_id).label("seller_id"),
           func.coalesce(days.c.product_id, from_orders.c.product_id).label("product_id"),
           func.coalesce(days.c.day, from_orders.c.day).label("day"))
    rows, more = _capped(
        select(*key,
               *(func.coalesce(days.c[n], 0).label(f"kept_{n}") for n in ("orders", "units", "revenue")),
               *(func.coalesce(from_orders.c[n], 0).label(f"real_{n}") for n in ("orders", "units", "revenue")))
        .select_from(days.join(from_orders, same_key, full=True))
        .where(differs)
        .order_by(*key)
    )
    report.add([
        f"sales of seller {r.seller_id}, product {r.product_id} on {r.day}: the running totals say "
        f"{int(r.kept_orders)} orders, {int(r.kept_units)} units, {int(r.kept_revenue)} cents; the orders say "
        f"{int(r.real_orders)}, {int(r.real_units)}, {int(r.real_revenue)}"
        for r in rows
    ], more)


