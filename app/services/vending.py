"""Inserting coins, buying and coin return: the buyer's escrow and the sale.

A buyer's inserted coins are held in escrow on their user row, counted per kind, until a sale drops
them into the tubes or the coin return gives exactly them back. Every statement here is SQLAlchemy
Core, run through the request's session inside one write transaction (app.data.transactions); the
locks are taken in the order buyer, product, tubes, sales rows.
"""

from collections import namedtuple
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update

from app.data.transactions import write_transaction
from app.extensions import db
from app.models import Order, Product, User
from app.models.columns import utcnow
from app.services import ledger, sales
from app.services.coins import COINS, coins_to_list, coins_value, euros, is_coin, make_change
from app.services.errors import ChangeImpossible, Conflict, InvalidInput, NotFound, ServiceError
from app.services.machine import lock_tubes, move_coins, tube_counts
from app.services.policy import Actor, require_role

MAX_AMOUNT = 10_000
USERS = User.__table__
PRODUCTS = Product.__table__
ORDERS = Order.__table__
ESCROW = {coin: USERS.c[f"escrow_{coin}"] for coin in COINS}


@dataclass
class Escrow:
    deposit: int
    coins: dict[int, int]


# The order as written by the buy: the row's values, without an ORM object (none is needed).
OrderRecord = namedtuple("OrderRecord", [column.key for column in ORDERS.columns])


@dataclass
class Purchase:
    order: OrderRecord
    product: object  # the product as sold: id, product_name, cost, seller_id, refundable, seller_username
    change: list[int]
    deposit: int


@dataclass
class CoinReturn:
    deposit: int
    change: list[int]


class PriceChanged(Conflict):
    """The buyer saw another price than the product has now (expectedCost)."""

    def __init__(self, product_name: str, cost: int):
        super().__init__(
            f"The price changed: {product_name} now costs {euros(cost)}; nothing was bought",
            {"expectedCost": [f"The current price is {cost} cents ({euros(cost)})"]},
        )
        self.cost = cost


class NotEnoughStock(Conflict):
    """Fewer units are left than the buyer asks for (none: sold out)."""

    def __init__(self, product_name: str, available: int):
        super().__init__(f"{product_name} is sold out" if available == 0
                         else f"Only {available} of {product_name} left")
        self.available = available


class InsufficientDeposit(Conflict):
    """The coins inserted do not pay for the purchase; `missing` cents more would."""

    def __init__(self, needed: int, paid_in: int):
        self.missing = needed - paid_in
        self.advice = f"insert {euros(self.missing)} more"
        super().__init__(f"Insufficient deposit: {euros(needed)} needed, {euros(paid_in)} inserted; {self.advice}")


def escrow_of(row) -> dict[int, int]:
    """The coins in escrow of a user row (ORM object or Core row)."""
    return {coin: getattr(row, f"escrow_{coin}") or 0 for coin in COINS}


# ---------------------------------------------------------------- statements
# Built once: a statement is a value; each call binds its parameters. (Building one per call cost about
# a tenth of a buy cycle's CPU, measured: bench/README.md.)

ADD_COIN = {
    coin: update(USERS)
    .where(USERS.c.id == bindparam("user_id"), USERS.c.deposit + coin <= bindparam("max_deposit"))
    .values({USERS.c.deposit: USERS.c.deposit + coin, ESCROW[coin]: ESCROW[coin] + 1})
    .returning(USERS.c.deposit, *ESCROW.values())
    for coin in COINS
}
EMPTY_ESCROW = (
    update(USERS)
    .where(USERS.c.id == bindparam("user_id"))
    .values({USERS.c.deposit: 0, **dict.fromkeys(ESCROW.values(), 0)})
)
LOCK_BUYER = (
    select(USERS.c.id, USERS.c.username, USERS.c.deposit, *ESCROW.values())
    .where(USERS.c.id == bindparam("user_id"))
    .with_for_update()
)
LOCK_PRODUCT = (
    select(
        *(PRODUCTS.c[name] for name in ("id", "product_name", "cost", "amount_available", "seller_id", "refundable",
                                       "on_sale")),
        select(USERS.c.username).where(USERS.c.id == PRODUCTS.c.seller_id).scalar_subquery().label("seller_username"),
    )
    .where(PRODUCTS.c.id == bindparam("product_id"))
    .with_for_update(of=PRODUCTS)
)
TAKE_STOCK = (
    update(PRODUCTS)
    .where(PRODUCTS.c.id == bindparam("product_id"))
    .values(amount_available=PRODUCTS.c.amount_available - bindparam("amount"), updated_at=bindparam("now"))
)
INSERT_ORDER = insert(ORDERS).returning(ORDERS.c.id)


def _add_coin(user_id: int, coin: int, max_deposit: int):
    """Lock the buyer's row and add the coin in one statement; None when the row is gone or full."""
    return db.session.execute(ADD_COIN[coin], {"user_id": user_id, "max_deposit": max_deposit}).first()


def _empty_escrow(user_id: int) -> None:
    db.session.execute(EMPTY_ESCROW, {"user_id": user_id})


def lock_buyer(actor: Actor):
    """The buyer's row (id, username, deposit, escrow), locked until the transaction ends."""
    require_role(actor, "buyer")
    buyer = db.session.execute(LOCK_BUYER, {"user_id": actor.id}).first()
    if buyer is None:
        raise NotFound("Your account no longer exists")
    return buyer


def return_escrow(user_id: int, coins: dict[int, int]) -> list[int]:
    """Give back exactly the coins in escrow (the user row must be locked); the coins as a list."""
    if coins_value(coins):
        _empty_escrow(user_id)
        ledger.record(ledger.entry("escrow_returned", coins, user_id=user_id))
    return coins_to_list(coins)


# ---------------------------------------------------------------- the operations


@write_transaction
def deposit(actor: Actor, coin: int, *, max_deposit: int) -> Escrow:
    """Put one coin into the buyer's escrow."""
    if not is_coin(coin):
        raise InvalidInput("The machine accepts only 5, 10, 20, 50 and 100 cent coins", field="coin")
    require_role(actor, "buyer")
    row = _add_coin(actor.id, coin, max_deposit)
    if row is None:
        lock_buyer(actor)  # NotFound when the account is gone
        raise Conflict(
            f"The machine holds at most {euros(max_deposit)} for one buyer; buy something or use coin return first"
        )
    ledger.record(ledger.entry("coin_inserted", {coin: 1}, user_id=actor.id))
    return Escrow(row.deposit, escrow_of(row))


def lock_product_for_sale(product_id: int):
    """The product's row with its seller's name, locked until the transaction ends, or None."""
    return db.session.execute(LOCK_PRODUCT, {"product_id": product_id}).first()


def sale_refusal(product, amount: int, paid_in: int, expected_cost: int | None = None) -> ServiceError | None:
    """Why `amount` of `product` cannot be sold for `paid_in` cents, or None when it can.

    The one statement of the rule: the buy enforces it on the locked row, the machine page uses it
    to dim what the buyer cannot afford.
    """
    if product is None or not product.on_sale:
        return NotFound("No such product")
    if expected_cost is not None and expected_cost != product.cost:
        return PriceChanged(product.product_name, product.cost)
    if product.amount_available < amount:
        return NotEnoughStock(product.product_name, product.amount_available)
    total = product.cost * amount
    if paid_in < total:
        return InsufficientDeposit(total, paid_in)
    return None


@write_transaction
def buy(actor: Actor, product_id: int, amount: int, *, initial_float: int,
        expected_cost: int | None = None) -> Purchase:
    """Sell `amount` units: escrow drops into the tubes, change comes out with the fewest coins."""
    if type(amount) is not int or not 1 <= amount <= MAX_AMOUNT:
        raise InvalidInput(f"Amount must be a whole number from 1 to {MAX_AMOUNT}", field="amount")
    buyer = lock_buyer(actor)
    product = lock_product_for_sale(product_id)
    refusal = sale_refusal(product, amount, buyer.deposit, expected_cost)
    if refusal is not None:
        raise refusal
    now = utcnow()
    total = product.cost * amount
    escrowed = escrow_of(buyer)
    db.session.execute(TAKE_STOCK, {"product_id": product.id, "amount": amount, "now": now})
    _empty_escrow(buyer.id)
    # Every buyer queues on the tube rows, so they are locked late and held for as little as possible:
    # the change is worked out from the counts read without a lock, and the tubes are written (and
    # locked) by the statement that finds out if those counts went stale; only the shared sales rows
    # come after them.
    change = change_from(buyer.deposit - total, escrowed, tube_counts(initial_float, lock=False))
    if change is None:  # before refusing, make sure on counts no other buy can change meanwhile
        change = change_from(buyer.deposit - total, escrowed, lock_tubes(initial_float))
    if change is None:
        raise ChangeImpossible(
            f"give {euros(buyer.deposit - total)} in change right now, so nothing was bought: use coin return to get "
            f"your coins back, then insert exactly {euros(total)}"
        )
    values = {
        "buyer_id": buyer.id, "buyer_username": buyer.username,
        "seller_id": product.seller_id, "seller_username": product.seller_username,
        "product_id": product.id, "product_name": product.product_name, "unit_cost": product.cost,
        "amount": amount, "total_spent": total, "paid_in": buyer.deposit, "change": coins_to_list(change),
        "refundable": bool(product.refundable), "status": "paid", "refunded_amount": 0, "refund_change": None,
        "created_at": now, "refunded_at": None,
    }
    order_id = db.session.execute(INSERT_ORDER, values).scalar_one()
    order = OrderRecord(id=order_id, **values)
    entries = [ledger.entry("escrow_to_tubes", escrowed, user_id=buyer.id, order_id=order.id, at=now)]
    if coins_value(change):
        entries.append(ledger.entry("change_paid", change, user_id=buyer.id, order_id=order.id, at=now))
    ledger.record(*entries)
    move_coins({coin: escrowed[coin] - change[coin] for coin in COINS})
    # The sales rows of the seller and of everyone are shared by every sale, like the tubes: written after
    # them, so every writer holds the tubes first (a refund too) and no two wait on each other in turn.
    sales.record_sale(seller_id=product.seller_id, product_id=product.id, at=now, units=amount, cents=total)
    return Purchase(order, product, order.change, 0)


def change_from(amount: int, escrowed: dict[int, int], tubes: dict[int, int]) -> dict[int, int] | None:
    """The fewest coins paying `amount` from the tubes and the coins the buyer inserted (which drop in first):
    the change of a sale, or None when it cannot be paid. The machine page asks it too, to say so on a tile."""
    return make_change(amount, {coin: tubes[coin] + escrowed[coin] for coin in COINS})


@write_transaction
def reset(actor: Actor) -> CoinReturn:
    """Coin return: always succeeds, returns exactly the coins inserted."""
    buyer = lock_buyer(actor)
    return CoinReturn(0, return_escrow(buyer.id, escrow_of(buyer)))


def get_escrow(actor: Actor) -> Escrow:
    require_role(actor, "buyer")
    user = db.session.get(User, actor.id)
    if user is None:
        raise NotFound("Your account no longer exists")
    return Escrow(user.deposit, escrow_of(user))

