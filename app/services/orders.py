"""Order history and refunds."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, func, select, update

from app.data.transactions import lock_one, write_transaction
from app.extensions import db
from app.models import Order, Product
from app.models.columns import utcnow
from app.services import ledger
from app.services.coins import coins_to_list, euros, make_change
from app.services.errors import Conflict, NotFound
from app.services.machine import lock_tubes, move_coins
from app.services.policy import Actor, require_role
from app.services.products import STOCK_MAX
from app.services.vending import lock_buyer

PRODUCTS = Product.__table__


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


def can_see(actor: Actor, order: Order) -> bool:
    return actor.is_admin or actor.id in (order.buyer_id, order.seller_id)


def get_order(actor: Actor, order_id: int) -> Order:
    """One order its buyer, its seller or an operator may see. Anyone else's is "no such order",
    exactly as a missing one, so order ids cannot be probed."""
    order = db.session.get(Order, order_id)
    if order is None or not can_see(actor, order):
        raise NotFound("No such order")
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
def refund(actor: Actor, order_id: int, *, window_seconds: int, initial_float: int) -> Refund:
    """Return the goods to stock and pay the whole order back as coins from the tubes."""
    buyer = lock_buyer(actor)
    order = lock_one(Order, order_id)
    if order is None or order.buyer_id != buyer.id:
        raise NotFound("No such order")
    reason = refund_refusal(order, buyer.id, window_seconds)
    if reason:
        raise Conflict(reason)
    product = lock_one(Product, order.product_id)
    if product is not None and product.amount_available + order.amount > STOCK_MAX:
        raise Conflict("The product's stock is full; the goods cannot be taken back")
    tubes = lock_tubes(initial_float)
    payout = make_change(order.total_spent, tubes)
    if payout is None:
        raise Conflict(f"The machine cannot pay {euros(order.total_spent)} back right now; ask the operator")
    if product is not None:
        db.session.execute(
            update(PRODUCTS)
            .where(PRODUCTS.c.id == product.id)
            .values(amount_available=PRODUCTS.c.amount_available + order.amount, updated_at=utcnow())
        )
    move_coins({coin: -count for coin, count in payout.items()})
    order.status = "refunded"
    order.refunded_at = utcnow()
    order.refunded_amount = order.total_spent
    order.refund_change = coins_to_list(payout)
    ledger.record(ledger.entry("refund_paid", payout, user_id=buyer.id, order_id=order.id))
    return Refund(order, order.refund_change)
