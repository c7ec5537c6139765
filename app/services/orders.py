"""Order history and refunds."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, func, select

from app.extensions import db
from app.models import LedgerEntry, Order, Product, User
from app.models._types import utcnow
from app.services.coins import coins_to_list, make_change
from app.services.errors import Conflict, Forbidden, NotFound
from app.services.machine import add_to_tubes, lock_tubes, tube_counts
from app.services.policy import Actor, require_role
from app.services.tx import lock_one, write_transaction


@dataclass
class Refund:
    order: Order
    change: list[int]


def visible_orders(actor: Actor) -> Select:
    """Buyers see their purchases, sellers the sales of their products, admins everything."""
    stmt = select(Order).order_by(Order.created_at.desc(), Order.id.desc())
    if actor.role == "buyer":
        stmt = stmt.where(Order.buyer_id == actor.id)
    elif actor.role == "seller":
        stmt = stmt.where(Order.seller_id == actor.id)
    return stmt


@dataclass
class SalesTotals:
    orders: int
    units: int
    revenue: int


def sales_totals(actor: Actor) -> SalesTotals:
    """A seller's paid (not refunded) sales: how many orders, units and cents."""
    require_role(actor, "seller")
    count, units, revenue = db.session.execute(
        select(
            func.count(Order.id),
            func.coalesce(func.sum(Order.amount), 0),
            func.coalesce(func.sum(Order.total_spent), 0),
        ).where(Order.seller_id == actor.id, Order.status == "paid")
    ).one()
    return SalesTotals(int(count), int(units), int(revenue))


def get_order(actor: Actor, order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound("No such order")
    if not (actor.is_admin or order.buyer_id == actor.id or order.seller_id == actor.id):
        raise Forbidden("This order is not yours")
    return order


def refund_refusal(order: Order, actor_id: int, window_seconds: int) -> str | None:
    """Why this order cannot be refunded by this buyer now, or None when it can."""
    if order.buyer_id != actor_id:
        return "Only the buyer of an order may refund it"
    if order.status == "refunded":
        return "This order has already been refunded"
    if not order.refundable:
        return "This product is not refundable"
    if utcnow() - order.created_at > timedelta(seconds=window_seconds):
        return f"Refunds are possible for {window_seconds // 60} minutes after purchase only"
    return None


@write_transaction
def refund(actor: Actor, order_id: int, *, window_seconds: int, initial_float: int, on_success=None) -> Refund:
    """Return the goods to stock and pay the whole order back as coins from the tubes."""
    require_role(actor, "buyer")
    buyer = lock_one(User, actor.id)
    order = lock_one(Order, order_id)
    if order is None:
        raise NotFound("No such order")
    if buyer is None or order.buyer_id != actor.id:
        raise Forbidden("Only the buyer of an order may refund it")
    reason = refund_refusal(order, actor.id, window_seconds)
    if reason:
        raise Conflict(reason)
    product = lock_one(Product, order.product_id)
    tubes = lock_tubes(initial_float)
    payout = make_change(order.total_spent, tube_counts(tubes))
    if payout is None:
        raise Conflict(f"The machine cannot pay {order.total_spent} cents back right now; ask the operator")
    if product is not None:
        if product.amount_available + order.amount > 10_000:
            raise Conflict("The product's stock is full; the goods cannot be taken back")
        product.amount_available += order.amount
    add_to_tubes(tubes, payout, -1)
    order.status = "refunded"
    order.refunded_at = utcnow()
    order.refunded_amount = order.total_spent
    order.refund_change = coins_to_list(payout)
    db.session.add(LedgerEntry.of("refund_paid", payout, user_id=actor.id, order_id=order.id))
    result = Refund(order, order.refund_change)
    if on_success:
        on_success(result)
    return result
