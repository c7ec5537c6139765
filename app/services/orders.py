"""Order history and refunds."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain

from sqlalchemy import Select, select, update

from app.data.pages import BadCursor, KeysetPage, encode_cursor, keyset
from app.data.transactions import lock_one, write_transaction
from app.extensions import db
from app.models import Order, Product
from app.models.columns import utcnow
from app.services import ledger, reports, sales, wording
from app.services.coins import coins_to_list, euros, make_change
from app.services.errors import ChangeImpossible, Conflict, InvalidInput, NotFound
from app.services.machine import lock_tubes, move_coins
from app.services.policy import Actor, require_role
from app.services.sales import Totals
from app.services.vending import lock_buyer

PRODUCTS = Product.__table__
ORDERS = Order.__table__


@dataclass
class Refund:
    order: Order
    change: list[int]


STATUSES = sales.STATUSES
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
    """A seller's sales over a range: its figures, per day or per month (`span`), and per product."""

    totals: Totals
    span: str
    series: list[sales.PeriodSales]
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
    for day, field in ((filters.since, "since"), (filters.until, "until")):
        if day is not None:
            reports.check_day(day, field)
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
    """Every order of the list, newest first, read a batch at a time (bounded memory, for a CSV).

    The first batch is read before this returns: a refused filter or a database that does not answer is
    raised to the caller, which can still answer with an error, instead of cutting a download short after
    its first line."""
    first = order_page(actor, filters, size=EXPORT_BATCH)
    return chain(first.items, _later_batches(actor, filters, first.next_cursor))


def _later_batches(actor: Actor, filters: OrderFilters | None, cursor: str | None) -> Iterator[Order]:
    while cursor is not None:
        db.session.expunge_all()  # the batch before is written out: let it go
        page = order_page(actor, filters, cursor=cursor, size=EXPORT_BATCH)
        yield from page.items
        cursor = page.next_cursor


def order_totals(actor: Actor, filters: OrderFilters | None = None) -> Totals:
    """The figures of the orders the list holds (sales.Totals). Sellers and the operator read the running
    aggregate (a few rows for any range, at any size of history); a buyer's own history is summed directly."""
    filters = filters or OrderFilters()
    listed = visible_orders(actor, filters)  # the same validation as the list's
    if actor.role == "buyer":
        return Totals.from_counters(db.session.execute(
            listed.order_by(None).with_only_columns(*sales.order_sums(ORDERS))).one())
    seller_id = actor.id if actor.role == "seller" else filters.seller_id
    if actor.role == "seller" and filters.seller_id not in (None, actor.id):
        return sales.NO_SALES
    return sales.totals(seller_id=seller_id, product_id=filters.product_id, since=filters.since,
                        until=filters.until, status=filters.status)


def check_range(since: date | None, until: date | None) -> None:
    """A range of UTC days ends on or after its first day (either may be open)."""
    if since is not None and until is not None and until < since:
        raise InvalidInput("The end date must not be before the start date", field="until")


# A chart of more days than this shows months.
MAX_DAYS_CHARTED = 92


def sales_summary(actor: Actor, filters: OrderFilters, *, today: date) -> SalesSummary:
    """A seller's sales (their list's filters: range, product, status): the figures, the chart's series and
    the per-product table. The chart shows every day of a range of up to MAX_DAYS_CHARTED days, else every
    month from the first sale (or `since`) to today (or `until`)."""
    require_role(actor, "seller")
    check_range(filters.since, filters.until)
    seller, product = actor.id, filters.product_id
    totals = order_totals(actor, filters)
    by_product = sales.by_product(seller_id=seller, product_id=product, since=filters.since, until=filters.until,
                                  status=filters.status)
    first, last = filters.since, filters.until or max(today, filters.since or today)
    if first is None or (last - first).days >= MAX_DAYS_CHARTED:
        began = sales.first_month(seller_id=seller, product_id=product)
        if began is None:
            return SalesSummary(totals, "month", [], by_product)
        first, last = max(first or began, began), min(last, today)
    span = "day" if (last - first).days < MAX_DAYS_CHARTED else "month"
    series = [] if last < first else sales.series(seller_id=seller, product_id=product, since=first, until=last,
                                                  span=span, status=filters.status)
    return SalesSummary(totals, span, series, by_product)


def can_see(actor: Actor, order: Order) -> bool:
    return actor.is_admin or actor.id in (order.buyer_id, order.seller_id)


def get_order(actor: Actor, order_id: int) -> Order:
    """One order its buyer, its seller or an operator may see. Anyone else's is "no such order",
    exactly as a missing one, so order ids cannot be probed."""
    order = db.session.get(Order, order_id)
    if order is None or not can_see(actor, order):
        raise NotFound("No such order")
    return order


def refundable_until(order: Order, window_seconds: int) -> datetime:
    """The end of the order's refund window."""
    return order.created_at + timedelta(seconds=window_seconds)


def refund_refusal(order: Order, actor_id: int, window_seconds: int) -> str | None:
    """Why this order cannot be refunded by this buyer now, or None when it can."""
    if order.buyer_id != actor_id:
        return "Only the buyer of an order may refund it"
    if order.status == "refunded":
        return "This order has already been refunded"
    if not order.refundable:
        return "This product is not refundable"
    if utcnow() > refundable_until(order, window_seconds):
        return f"Refunds are possible for {wording.duration(window_seconds)} after purchase only"
    return None


@dataclass
class RefundOffer:
    """Whether the buyer may refund an order now, and until when: what an order list shows next to it."""

    refusal: str | None
    until: datetime

    @property
    def open(self) -> bool:
        return self.refusal is None


def refund_offer(order: Order, actor_id: int, window_seconds: int) -> RefundOffer:
    return RefundOffer(refund_refusal(order, actor_id, window_seconds), refundable_until(order, window_seconds))


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
    # The goods go back into stock whatever the seller has set it to since (the stock cap is a rule for what
    # sellers type): a refund never depends on the seller.
    product = lock_one(Product, order.product_id)
    tubes = lock_tubes(initial_float)
    payout = make_change(order.total_spent, tubes)
    if payout is None:
        raise ChangeImpossible(
            f"pay {euros(order.total_spent)} back right now, so nothing was refunded: "
            "try again later or ask the operator"
        )
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
    sales.record_refund(order)  # after the tubes, as in the buy (app.services.vending)
    ledger.record(ledger.entry("refund_paid", payout, user_id=buyer.id, order_id=order.id))
    return Refund(order, order.refund_change)
