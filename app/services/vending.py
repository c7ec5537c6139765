"""Inserting coins, buying and coin return."""

from collections import namedtuple
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import bindparam, insert, select, update

from app.extensions import db
from app.models import LedgerEntry, Order, Product, User
from app.models._types import utcnow
from app.services.coins import COINS, coins_to_list, coins_value, empty_coins, is_coin, make_change
from app.services.errors import Conflict, InvalidInput, NotFound
from app.services.hotsql import HotStatement, Row, hot_write_transaction
from app.services.machine import lock_tube_counts, move_coins
from app.services.policy import Actor, require_role
from app.services.tx import lock_one, needs_session, write_transaction

MAX_AMOUNT = 10_000


@dataclass
class Escrow:
    deposit: int
    coins: dict[int, int]


# The order as written by the buy statement: the row's values, without an ORM object (none is needed).
OrderRecord = namedtuple("OrderRecord", [column.key for column in Order.__table__.columns])


@dataclass
class Purchase:
    order: OrderRecord
    product: Row  # the product as sold: id, product_name, cost, seller_id, refundable, seller_username
    change: list[int]
    deposit: int


@dataclass
class CoinReturn:
    deposit: int
    change: list[int]


def _lock_buyer(actor: Actor) -> User:
    require_role(actor, "buyer")
    user = lock_one(User, actor.id)
    if user is None:
        raise NotFound("Your account no longer exists")
    return user


# Deposit and buy are the hot path of the machine: a few Core statements sent straight to the driver
# (services.hotsql, no ORM unit of work), under the same locks and in the same order as every other
# write, in one transaction on a connection of their own (hot_write_transaction). Where one needs the
# session after all (to explain a refusal, to fill a fresh install's tubes), needs_session() sends the
# whole call to a session transaction instead. A user row changed here changes the account's money
# only, never who it is or whether its tokens are valid.
_USERS = User.__table__
_PRODUCTS = Product.__table__
_ORDERS = Order.__table__
_LEDGER = LedgerEntry.__table__
_ESCROW = {coin: _USERS.c[f"escrow_{coin}"] for coin in COINS}


def _escrow_of(row) -> dict[int, int]:
    return {coin: getattr(row, column.key) for coin, column in _ESCROW.items()}


def _deposit_statement(coin: int) -> HotStatement:
    return HotStatement(
        update(_USERS)
        .where(_USERS.c.id == bindparam("user_id"), _USERS.c.deposit + coin <= bindparam("max_deposit"))
        .values({_USERS.c.deposit: _USERS.c.deposit + coin, _ESCROW[coin]: _ESCROW[coin] + 1})
        .returning(_USERS.c.deposit, *_ESCROW.values())
    )


def _insert_statement(table, rows: int, *, returning=()) -> HotStatement:
    """INSERT of `rows` rows, every column but the key given (as `<column>_<row>`)."""
    columns = [column for column in table.columns if not column.primary_key]
    values = [{column: bindparam(f"{column.key}_{row}") for column in columns} for row in range(rows)]
    return HotStatement(insert(table).values(values).returning(*returning))


def _numbered(rows: list[dict]) -> dict:
    return {f"{key}_{n}": value for n, row in enumerate(rows) for key, value in row.items()}


_DEPOSIT = {coin: _deposit_statement(coin) for coin in COINS}
_LOCK_BUYER = HotStatement(
    select(_USERS.c.id, _USERS.c.username, _USERS.c.deposit, *_ESCROW.values())
    .where(_USERS.c.id == bindparam("user_id"))
    .with_for_update()
)
_SELLER_NAME = (
    select(_USERS.c.username).where(_USERS.c.id == _PRODUCTS.c.seller_id).scalar_subquery().label("seller_username")
)
_SELL_STOCK = HotStatement(  # the product row locked and its stock taken in one statement, when the sale can go ahead
    update(_PRODUCTS)
    .where(
        _PRODUCTS.c.id == bindparam("product_id"),
        _PRODUCTS.c.on_sale.is_(True),
        _PRODUCTS.c.amount_available >= bindparam("amount"),
        _PRODUCTS.c.cost * bindparam("amount") <= bindparam("paid_in"),
    )
    .values(amount_available=_PRODUCTS.c.amount_available - bindparam("amount"), updated_at=bindparam("now"))
    .returning(
        _PRODUCTS.c.id, _PRODUCTS.c.product_name, _PRODUCTS.c.cost, _PRODUCTS.c.seller_id, _PRODUCTS.c.refundable,
        _SELLER_NAME,
    )
)
_EMPTY_ESCROW = HotStatement(
    update(_USERS)
    .where(_USERS.c.id == bindparam("user_id"))
    .values({_USERS.c.deposit: 0, **{column: 0 for column in _ESCROW.values()}})
)
_INSERT_ORDER = _insert_statement(_ORDERS, 1, returning=(_ORDERS.c.id,))
_INSERT_LEDGER = {rows: _insert_statement(_LEDGER, rows) for rows in (1, 2)}


def _write_ledger(*entries: dict) -> None:
    _INSERT_LEDGER[len(entries)].execute(_numbered(list(entries)))


def _add_to_escrow(user_id: int, coin: int, max_deposit: int) -> Row | None:
    """Lock the buyer's row and add the coin in one statement; None when the row is gone or full."""
    params = {"user_id": user_id, "max_deposit": max_deposit}
    return _DEPOSIT[coin].first(params, changes_user=user_id, keeps_sessions=True)


@hot_write_transaction
def deposit(actor: Actor, coin: int, *, max_deposit: int, on_success=None) -> Escrow:
    """Put one coin into the buyer's escrow."""
    if not is_coin(coin):
        raise InvalidInput("The machine accepts only 5, 10, 20, 50 and 100 cent coins", field="coin")
    require_role(actor, "buyer")
    row = _add_to_escrow(actor.id, coin, max_deposit)
    if row is None:
        needs_session()
        if db.session.get(User, actor.id, populate_existing=True) is None:
            raise NotFound("Your account no longer exists")
        raise Conflict(f"The machine holds at most {max_deposit} cents for one buyer; buy or reset first")
    _write_ledger(LedgerEntry.row("coin_inserted", {coin: 1}, user_id=actor.id, created_at=utcnow()))
    result = Escrow(row.deposit, _escrow_of(row))
    if on_success:
        on_success(result)
    return result


@hot_write_transaction
def buy(actor: Actor, product_id: int, amount: int, *, initial_float: int, on_success=None) -> Purchase:
    """Sell `amount` units: escrow drops into the tubes, change comes out with the fewest coins."""
    if type(amount) is not int or not 1 <= amount <= MAX_AMOUNT:
        raise InvalidInput(f"Amount must be a whole number from 1 to {MAX_AMOUNT}", field="amount")
    require_role(actor, "buyer")
    buyer = _LOCK_BUYER.first({"user_id": actor.id})
    if buyer is None:
        raise NotFound("Your account no longer exists")
    paid_in = buyer.deposit
    now = utcnow()
    product = _SELL_STOCK.first({"product_id": product_id, "amount": amount, "paid_in": paid_in, "now": now})
    if product is None:
        _refuse_sale(product_id, amount, paid_in)
    total = product.cost * amount
    escrowed = _escrow_of(buyer)
    # Every buyer queues on the tube rows: write the buyer's and the product's rows (locked by now)
    # before taking them, so only the tubes, the order and its ledger rows are written while they are held.
    _EMPTY_ESCROW.execute({"user_id": buyer.id}, changes_user=buyer.id, keeps_sessions=True)
    available = lock_tube_counts(initial_float)
    for coin in COINS:
        available[coin] += escrowed[coin]
    change = make_change(paid_in - total, available)
    if change is None:
        raise Conflict(
            f"The machine cannot give exact change of {paid_in - total} cents; "
            "insert exact money or a different coin mix, or reset"
        )
    move_coins({coin: escrowed[coin] - change[coin] for coin in COINS})
    order = _insert_order(
        buyer_id=buyer.id,
        buyer_username=buyer.username,
        seller_id=product.seller_id,
        seller_username=product.seller_username,
        product_id=product.id,
        product_name=product.product_name,
        unit_cost=product.cost,
        amount=amount,
        total_spent=total,
        paid_in=paid_in,
        change=coins_to_list(change),
        refundable=bool(product.refundable),
        status="paid",
        refunded_amount=0,
        refund_change=None,
        created_at=now,
        refunded_at=None,
    )
    entries = [LedgerEntry.row("escrow_to_tubes", escrowed, user_id=buyer.id, order_id=order.id, created_at=now)]
    if coins_value(change):
        entries.append(LedgerEntry.row("change_paid", change, user_id=buyer.id, order_id=order.id, created_at=now))
    _write_ledger(*entries)
    result = Purchase(order, product, order.change, 0)
    if on_success:
        on_success(result)
    return result


def _refuse_sale(product_id: int, amount: int, paid_in: int) -> NoReturn:
    """Say why the product could not be sold (it was not changed)."""
    needs_session()
    product = db.session.get(Product, product_id, populate_existing=True)
    if product is None or not product.on_sale:
        raise NotFound("No such product")
    if product.amount_available < amount:
        raise Conflict(f"Only {product.amount_available} of {product.product_name} left")
    total = product.cost * amount
    if paid_in < total:
        raise Conflict(f"Insufficient deposit: {total} cents needed, {paid_in} inserted")
    raise Conflict(f"{product.product_name} changed while you were buying it; please try again")


def _insert_order(**values) -> OrderRecord:
    """Write the order row; every column is given, so the record holds the row exactly as stored."""
    return OrderRecord(id=_INSERT_ORDER.first(_numbered([values])).id, **values)


def return_escrow(user: User) -> list[int]:
    """Give the buyer back exactly the coins they inserted (user row must be locked)."""
    coins = user.escrowed_coins
    if coins_value(coins):
        db.session.add(LedgerEntry.of("escrow_returned", coins, user_id=user.id))
    user.set_escrow(empty_coins())
    return coins_to_list(coins)


@write_transaction
def reset(actor: Actor, *, on_success=None) -> CoinReturn:
    """Coin return: always succeeds, returns exactly the coins inserted."""
    user = _lock_buyer(actor)
    result = CoinReturn(0, return_escrow(user))
    if on_success:
        on_success(result)
    return result


def get_escrow(actor: Actor) -> Escrow:
    require_role(actor, "buyer")
    user = db.session.get(User, actor.id)
    if user is None:
        raise NotFound("Your account no longer exists")
    return Escrow(user.deposit, user.escrowed_coins)
