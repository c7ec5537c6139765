"""Inserting coins, buying and coin return."""

from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from app.models import LedgerEntry, Order, Product, User
from app.services.coins import COINS, coins_to_list, coins_value, empty_coins, is_coin, make_change
from app.services.errors import Conflict, InvalidInput, NotFound
from app.services.machine import add_to_tubes, lock_tubes, tube_counts
from app.services.policy import Actor, require_role
from app.services.tx import lock_one, write_transaction

MAX_AMOUNT = 10_000


@dataclass
class Escrow:
    deposit: int
    coins: dict[int, int]


@dataclass
class Purchase:
    order: Order
    product: Product
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


@write_transaction
def deposit(actor: Actor, coin: int, *, max_deposit: int, on_success=None) -> Escrow:
    """Put one coin into the buyer's escrow."""
    if not is_coin(coin):
        raise InvalidInput("The machine accepts only 5, 10, 20, 50 and 100 cent coins", field="coin")
    user = _lock_buyer(actor)
    if user.deposit + coin > max_deposit:
        raise Conflict(f"The machine holds at most {max_deposit} cents for one buyer; buy or reset first")
    coins = user.escrowed_coins
    coins[coin] += 1
    user.set_escrow(coins)
    db.session.add(LedgerEntry.of("coin_inserted", {coin: 1}, user_id=user.id))
    result = Escrow(user.deposit, coins)
    if on_success:
        on_success(result)
    return result


@write_transaction
def buy(actor: Actor, product_id: int, amount: int, *, initial_float: int, on_success=None) -> Purchase:
    """Sell `amount` units: escrow drops into the tubes, change comes out with the fewest coins."""
    if type(amount) is not int or not 1 <= amount <= MAX_AMOUNT:
        raise InvalidInput(f"Amount must be a whole number from 1 to {MAX_AMOUNT}", field="amount")
    user = _lock_buyer(actor)
    locked_product = db.session.execute(  # the product row locked, its seller's name read with it
        select(Product, User.username)
        .outerjoin(User, User.id == Product.seller_id)
        .where(Product.id == product_id)
        .with_for_update(of=Product)
        .execution_options(populate_existing=True)
    ).first()
    if locked_product is None or not locked_product.Product.on_sale:
        raise NotFound("No such product")
    product, seller_username = locked_product
    if product.amount_available < amount:
        raise Conflict(f"Only {product.amount_available} of {product.product_name} left")
    total = product.cost * amount
    paid_in = user.deposit
    if paid_in < total:
        raise Conflict(f"Insufficient deposit: {total} cents needed, {paid_in} inserted")
    escrowed = user.escrowed_coins
    # Every buyer queues on the tube rows: write the buyer's and the product's rows (already locked)
    # before taking them, so only the tubes, the order and its ledger rows are written while they are held.
    user.set_escrow(empty_coins())
    product.amount_available -= amount
    db.session.flush()
    tubes = lock_tubes(initial_float)
    available = tube_counts(tubes)
    for coin in COINS:
        available[coin] += escrowed[coin]
    change = make_change(paid_in - total, available)
    if change is None:
        raise Conflict(
            f"The machine cannot give exact change of {paid_in - total} cents; "
            "insert exact money or a different coin mix, or reset"
        )
    add_to_tubes(tubes, escrowed, +1)
    add_to_tubes(tubes, change, -1)
    order = Order(
        buyer_id=user.id,
        buyer_username=user.username,
        seller_id=product.seller_id,
        seller_username=seller_username,
        product_id=product.id,
        product_name=product.product_name,
        unit_cost=product.cost,
        amount=amount,
        total_spent=total,
        paid_in=paid_in,
        change=coins_to_list(change),
        refundable=product.refundable,
        status="paid",
    )
    db.session.add(order)
    db.session.flush()
    db.session.add(LedgerEntry.of("escrow_to_tubes", escrowed, user_id=user.id, order_id=order.id))
    if coins_value(change):
        db.session.add(LedgerEntry.of("change_paid", change, user_id=user.id, order_id=order.id))
    result = Purchase(order, product, order.change, 0)
    if on_success:
        on_success(result)
    return result


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
