"""Order history and refunds."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, func, select, update

from app.data.pages import BadCursor, KeysetPage, encode_cursor, keyset
from app.data.transactions import lock_one, write_transaction
from app.extensions import db
from app.models import Order, Product
from app.models.columns import utcnow
from app.services import ledger, sales, wording
from app.services.coins import coins_to_list, euros, make_change
from app.services.errors import ChangeImpossible, Conflict, InvalidInput, NotFound
from app.services.machine import lock_tubes, move_coins
from app.services.policy import Actor, require_role
from app.services.products import STOCK_MAX
from app.services.sales import Totals as SalesTotals
from app.services.vending import lock_buyer

PRODUCTS = Product.__table__


@dataclass
class Refund:
    order: Order
    change: list[int]


STATUSES = ("paid", "refunded")
EXPORT_BATCH = 1000


@dataclass(frozen=True)
class OrderFilters:
    """Which orders of a list: by UTC day (inclusive), seller, product and status; None is "any"."""

    since: date | None = None
    until: date | None = None
    seller_id: int | None = None
    product_id: int | None = None
    status: str | None = None


@dataclass
class SalesSummary:
    totals: SalesTotals
    by_day: list[sales.DaySales]
    by_product: list[sales.ProductSales]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def visible_orders(actor: Actor, filters: OrderFilters | None = None) -> Select:
    """Buyers see their purchases, sellers the sales of their products, admins everything; newest first."""
    stmt = select(Order).order_by(Order.created_at.desc(), Order.id.desc())
    if actor.role == "buyer":
        stmt = stmt.where(Order.buyer_id == actor.id)
    elif actor.role == "seller":
        stmt = stmt.where(Order.seller_id == actor.id)
    filters = filters or OrderFilters()
    if filters.status is not None and filters.status not in STATUSES:
        raise InvalidInput("Status must be paid or refunded", field="status")
    if filters.since is not None:
        stmt = stmt.where(Order.created_at >= _day_start(filters.since))
    if filters.until is not None:
        stmt = stmt.where(Order.created_at < _day_start(filters.until + timedelta(days=1)))
    for column, value in ((Order.seller_id, filters.seller_id), (Order.product_id, filters.product_id),
                          (Order.status, filters.status)):
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


def order_page(actor: Actor, filters: OrderFilters | None = None, *, cursor: str | None = None,
               size: int = 20) -> KeysetPage:
    """A page of the actor's orders list, newest first, from `cursor` (None: the newest)."""
    try:
        return keyset(visible_orders(actor, filters), created_at=Order.created_at, ident=Order.id, cursor=cursor,
                      size=size)
    except BadCursor:
        raise InvalidInput("This cursor is not one the list gave out", field="cursor") from None


def numbered_order_page(actor: Actor, filters: OrderFilters | None = None, *, page: int, size: int) -> KeysetPage:
    """Page `page` (from 1) by offset, for the shallow pages a client asks for by number (the API caps
    them); the cursors it gives lead on by keyset."""
    rows = list(db.session.scalars(visible_orders(actor, filters).limit(size + 1).offset((page - 1) * size)))
    items = rows[:size]
    older = encode_cursor("older", items[-1].created_at, items[-1].id) if len(rows) > size else None
    newer = encode_cursor("newer", items[0].created_at, items[0].id) if items and page > 1 else None
    return KeysetPage(items, older, newer)


def export_orders(actor: Actor, filters: OrderFilters | None = None) -> Iterator[Order]:
    """Every order of the list, newest first, read a batch at a time (bounded memory, for a CSV)."""
    cursor = None
    while True:
        page = order_page(actor, filters, cursor=cursor, size=EXPORT_BATCH)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
        db.session.expunge_all()  # the batch is written out: let it go


def order_totals(actor: Actor, filters: OrderFilters | None = None) -> SalesTotals:
    """How many orders, units and cents the list holds. Sellers and the operator read the running
    aggregate (the same cost at any size of history); a buyer's own history is summed directly."""
    filters = filters or OrderFilters()
    if actor.role == "buyer":
        stmt = visible_orders(actor, filters).order_by(None).with_only_columns(
            func.count(Order.id), func.coalesce(func.sum(Order.amount), 0),
            func.coalesce(func.sum(Order.total_spent), 0),
        )
        count, units, revenue = db.session.execute(stmt).one()
        return SalesTotals(int(count), int(units), int(revenue))
    visible_orders(actor, filters)  # the same validation as the list's
    seller_id = actor.id if actor.role == "seller" else filters.seller_id
    if actor.role == "seller" and filters.seller_id not in (None, actor.id):
        return SalesTotals(0, 0, 0)
    return sales.totals(seller_id=seller_id, product_id=filters.product_id, since=filters.since,
                        until=filters.until, status=filters.status)


def sales_totals(actor: Actor) -> SalesTotals:
    """A seller's sales that stand (paid, not refunded): how many orders, units and cents."""
    require_role(actor, "seller")
    return sales.totals(seller_id=actor.id, status="paid")


def sales_summary(actor: Actor, *, since: date, until: date) -> SalesSummary:
    """A seller's paid sales between two UTC days (inclusive): totals, per day and per product."""
    require_role(actor, "seller")
    if until < since:
        raise InvalidInput("The end date must not be before the start date", field="until")
    by_day = sales.by_day(seller_id=actor.id, since=since, until=until)
    totals = SalesTotals(*(sum(getattr(day, name) for day in by_day) for name in ("orders", "units", "revenue")))
    return SalesSummary(totals, by_day, sales.by_product(seller_id=actor.id, since=since, until=until))


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
        return f"Refunds are possible for {wording.duration(window_seconds)} after purchase only"
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
        raise ChangeImpossible(f"pay {euros(order.total_spent)} back right now; ask the operator")
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
    sales.record(seller_id=order.seller_id, product_id=order.product_id, at=order.created_at, orders=-1,
                 units=-order.amount, revenue=-order.total_spent, refunded_orders=1, refunded_units=order.amount,
                 refunded_revenue=order.total_spent)
    ledger.record(ledger.entry("refund_paid", payout, user_id=buyer.id, order_id=order.id))
    return Refund(order, order.refund_change)
