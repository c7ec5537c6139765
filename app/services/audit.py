"""flask audit: check that no cent and no item was lost or created."""

from dataclasses import dataclass, field

from sqlalchemy import case, func, select

from app.extensions import db
from app.models import CoinTube, LedgerEntry, Order, Product, User
from app.services.coins import COINS, coins_value, list_to_coins

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


def run_audit() -> AuditReport:
    report = AuditReport()
    _check_escrow(report)
    _check_tubes(report)
    _check_orders(report)
    _check_stock(report)
    db.session.rollback()
    return report


def _ledger_sums(sign_index: int) -> dict[int, int]:
    totals = dict.fromkeys(COINS, 0)
    rows = db.session.execute(
        select(LedgerEntry.kind, *[func.sum(getattr(LedgerEntry, f"c{c}")) for c in COINS]).group_by(
            LedgerEntry.kind
        )
    )
    for kind, *sums in rows:
        sign = LEDGER_EFFECTS.get(kind, (0, 0))[sign_index]
        for coin, total in zip(COINS, sums, strict=True):
            totals[coin] += sign * int(total or 0)
    return totals


def _check_escrow(report: AuditReport) -> None:
    users = db.session.scalars(select(User)).all()
    report.checked["users"] = len(users)
    escrow_totals = dict.fromkeys(COINS, 0)
    for user in users:
        coins = user.escrowed_coins
        if any(count < 0 for count in coins.values()):
            report.breaches.append(f"user {user.id} ({user.username}) has a negative escrow count {coins}")
        if user.deposit != coins_value(coins):
            report.breaches.append(
                f"user {user.id} ({user.username}) deposit {user.deposit} != escrowed coins worth {coins_value(coins)}"
            )
        for coin in COINS:
            escrow_totals[coin] += coins[coin]
    ledger_escrow = _escrow_in_ledger_for_live_users({u.id for u in users})
    for coin in COINS:
        if escrow_totals[coin] != ledger_escrow[coin]:
            report.breaches.append(
                f"escrow holds {escrow_totals[coin]} x {coin}c but the ledger says {ledger_escrow[coin]}"
            )


def _escrow_in_ledger_for_live_users(user_ids: set[int]) -> dict[int, int]:
    totals = dict.fromkeys(COINS, 0)
    rows = db.session.execute(
        select(LedgerEntry.user_id, LedgerEntry.kind, *[getattr(LedgerEntry, f"c{c}") for c in COINS]).where(
            LedgerEntry.kind.in_(["coin_inserted", "escrow_to_tubes", "escrow_returned"])
        )
    )
    for user_id, kind, *counts in rows:
        if user_id not in user_ids:
            continue
        sign = LEDGER_EFFECTS[kind][1]
        for coin, count in zip(COINS, counts, strict=True):
            totals[coin] += sign * count
    return totals


def _check_tubes(report: AuditReport) -> None:
    tubes = {t.coin: t.count for t in db.session.scalars(select(CoinTube))}
    expected = _ledger_sums(0)
    report.checked["coin kinds"] = len(COINS)
    for coin in COINS:
        actual = tubes.get(coin, 0)
        if actual < 0:
            report.breaches.append(f"the {coin}c tube holds a negative count {actual}")
        if actual != expected[coin]:
            report.breaches.append(f"the {coin}c tube holds {actual} but the ledger says {expected[coin]}")


def _check_orders(report: AuditReport) -> None:
    orders = db.session.scalars(select(Order)).all()
    report.checked["orders"] = len(orders)
    paid = {
        order_id: cents
        for order_id, cents in db.session.execute(
            select(LedgerEntry.order_id, func.sum(LedgerEntry.cents))
            .where(LedgerEntry.kind == "escrow_to_tubes")
            .group_by(LedgerEntry.order_id)
        )
    }
    for order in orders:
        if order.total_spent != order.unit_cost * order.amount:
            report.breaches.append(
                f"order {order.id}: total {order.total_spent} != {order.unit_cost} x {order.amount}"
            )
        change = coins_value(list_to_coins(order.change))
        if change + order.total_spent != order.paid_in:
            report.breaches.append(
                f"order {order.id}: change {change} + total {order.total_spent} != paid in {order.paid_in}"
            )
        if paid.get(order.id, 0) != order.paid_in:
            report.breaches.append(
                f"order {order.id}: ledger shows {paid.get(order.id, 0)} paid in, order says {order.paid_in}"
            )
        if order.status == "refunded":
            refund = coins_value(list_to_coins(order.refund_change or []))
            if refund != order.total_spent:
                report.breaches.append(f"order {order.id}: refunded {refund} of {order.total_spent}")


def _check_stock(report: AuditReport) -> None:
    sold = case((Order.status == "paid", Order.amount), else_=0)
    units_sold = dict(
        db.session.execute(select(Order.product_id, func.sum(sold)).group_by(Order.product_id)).all()
    )
    products = db.session.scalars(select(Product)).all()
    report.checked["products"] = len(products)
    for product in products:
        if product.amount_available < 0:
            report.breaches.append(f"product {product.id} has negative stock {product.amount_available}")
        net_sold = int(units_sold.get(product.id, 0) or 0)
        if product.amount_available + net_sold != product.units_stocked:
            report.breaches.append(
                f"product {product.id} ({product.product_name}): stock {product.amount_available} + "
                f"units sold and kept {net_sold} != units stocked {product.units_stocked}"
            )
