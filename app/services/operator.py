"""The operator's jobs on the web pages: collect the cash box, refill the tubes, the tubes' history, finding
users, and the machine's "exact change only" state that buyers are warned about.

Every movement of coins goes through app.services.machine (lock_tubes, move_coins) and is written to the
ledger as `tubes_set` with signed deltas, so `flask audit` balances without a kind of its own.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Select, func, select

from app.data.transactions import write_transaction
from app.extensions import db
from app.models import CoinTube, LedgerEntry, Product, User
from app.services import ledger
from app.services.audit import LEDGER_EFFECTS
from app.services.coins import COINS, coins_value, euros, make_change
from app.services.errors import Conflict, InvalidInput
from app.services.machine import MAX_TUBE_COUNT, lock_tubes, move_coins
from app.services.policy import Actor, require_role

# The largest coin: a buyer's last coin can overshoot a price by up to this less 5 cents.
LARGEST_COIN = max(COINS)
# Change amounts checked for the exact-change warning, at most (a catalogue whose prices span more than
# this between the cheapest and the dearest product is checked up to here): every amount is one
# make_change call, and the warning is worked out on every view of the machine page.
CHANGE_CHECKED_UP_TO = 5_000
HISTORY_KINDS = tuple(kind for kind, (tubes, _escrow) in LEDGER_EFFECTS.items() if tubes)
USER_QUERY_MAX = 32


# ---------------------------------------------------------------- exact change only


@dataclass
class Tube:
    coin: int
    count: int
    low_at: int  # the operator's warning level

    @property
    def low(self) -> bool:
        return self.count <= self.low_at


def tube_states(initial_float: int) -> list[Tube]:
    """Every tube with its warning level, read without a lock (a fresh install's: the float and the default)."""
    rows = {t.coin: t for t in db.session.scalars(select(CoinTube))}
    default = CoinTube.__table__.c.low_at.default.arg
    return [Tube(coin, rows[coin].count, rows[coin].low_at) if coin in rows else Tube(coin, initial_float, default)
            for coin in COINS]


@write_transaction
def set_low_levels(actor: Actor, levels: dict[int, int], *, initial_float: int) -> list[Tube]:
    """The operator's warning level of each tube."""
    require_role(actor, "admin")
    _check_counts(levels, "Warning levels")
    lock_tubes(initial_float)
    for tube in db.session.scalars(select(CoinTube)):
        tube.low_at = levels[tube.coin]
    db.session.flush()
    return tube_states(initial_float)


def read_tubes(initial_float: int) -> dict[int, int]:
    """The tubes as they are, without a lock (a fresh install's are INITIAL_FLOAT each until the first sale)."""
    counts = dict(db.session.execute(select(CoinTube.coin, CoinTube.count)).all())
    return {coin: counts.get(coin, initial_float) for coin in COINS}


def change_amounts(prices: tuple[int, int] | None) -> range:
    """Every change a sale may have to pay, given the cheapest and the dearest price on sale: a deposit
    from a product's price up to the dearest price, or up to one coin more than its own price."""
    if prices is None:
        return range(0)
    cheapest, dearest = prices
    largest = min(max(dearest - cheapest, LARGEST_COIN - 5), CHANGE_CHECKED_UP_TO)
    return range(5, largest + 1, 5)


@lru_cache(maxsize=64)
def _cannot_pay(tubes: tuple[tuple[int, int], ...], amounts: range) -> int | None:
    """The smallest amount of `amounts` the tubes cannot pay with make_change (the one change rule), or None."""
    available = dict(tubes)
    for amount in amounts:
        if make_change(amount, available) is None:
            return amount
    return None


def exact_change_only(initial_float: int) -> int | None:
    """The smallest change the machine cannot pay for some product it sells now, or None when it can pay
    the change for every product at every deposit up to the dearest price (and one coin over each price)."""
    cheapest, dearest = db.session.execute(
        select(func.min(Product.cost), func.max(Product.cost)).where(
            Product.on_sale.is_(True), Product.amount_available > 0
        )
    ).one()
    amounts = change_amounts(None if cheapest is None else (cheapest, dearest))
    tubes = tuple(sorted(read_tubes(initial_float).items()))
    return _cannot_pay(tubes, amounts)


# ---------------------------------------------------------------- collect and refill


@dataclass
class TubesChange:
    coins: dict[int, int]  # coins taken out (collect) or put in (refill), per kind
    tubes: dict[int, int]  # the tubes afterwards

    @property
    def cents(self) -> int:
        return coins_value(self.coins)


def _check_counts(counts: dict[int, int], what: str) -> None:
    for coin in COINS:
        count = counts.get(coin)
        if type(count) is not int or not 0 <= count <= MAX_TUBE_COUNT:
            raise InvalidInput(f"{what} must be whole numbers from 0 to {MAX_TUBE_COUNT}", field=str(coin))


def _collection(tubes: dict[int, int], keep: dict[int, int]) -> TubesChange:
    taken = {coin: max(0, tubes[coin] - keep[coin]) for coin in COINS}
    if not any(taken.values()):
        raise Conflict("Nothing to collect: no tube holds more than the float")
    return TubesChange(taken, {coin: tubes[coin] - taken[coin] for coin in COINS})


def preview_collection(actor: Actor, keep: dict[int, int], *, initial_float: int) -> TubesChange:
    """What collect_coins would take now, down to `keep` coins of each kind; nothing is locked or moved."""
    require_role(actor, "admin")
    _check_counts(keep, "The float")
    return _collection(read_tubes(initial_float), keep)


@write_transaction
def collect_coins(actor: Actor, keep: dict[int, int], *, initial_float: int,
                  expected_cents: int | None = None) -> TubesChange:
    """Empty the tubes into the cash box down to `keep` coins of each kind (the float change is paid from).

    `expected_cents` is the amount the operator confirmed (preview_collection): sales and refunds move the tubes
    meanwhile, and a collection of any other amount is refused, nothing taken."""
    require_role(actor, "admin")
    _check_counts(keep, "The float")
    tubes = lock_tubes(initial_float)
    collection = _collection(tubes, keep)
    taken = collection.coins
    if expected_cents is not None and collection.cents != expected_cents:
        raise Conflict(f"The tubes changed since the preview: collecting now takes {euros(collection.cents)}, "
                       f"not {euros(expected_cents)}; nothing was collected. Check the amount and confirm again")
    move_coins({coin: -count for coin, count in taken.items()})
    ledger.record(ledger.entry("tubes_set", {coin: -count for coin, count in taken.items()}, user_id=actor.id))
    return collection


@write_transaction
def refill(actor: Actor, added: dict[int, int], *, initial_float: int) -> TubesChange:
    """Put coins into the tubes."""
    require_role(actor, "admin")
    _check_counts(added, "Coins to add")
    if not any(added.values()):
        raise InvalidInput("Add at least one coin", field=str(COINS[0]))
    tubes = lock_tubes(initial_float)
    for coin in COINS:
        if tubes[coin] + added[coin] > MAX_TUBE_COUNT:
            raise InvalidInput(f"A tube holds at most {MAX_TUBE_COUNT} coins", field=str(coin))
    move_coins(added)
    ledger.record(ledger.entry("tubes_set", added, user_id=actor.id))
    return TubesChange(dict(added), {coin: tubes[coin] + added[coin] for coin in COINS})


# ---------------------------------------------------------------- history


@dataclass
class TubeMovement:
    id: int
    at: datetime
    kind: str
    label: str
    deltas: dict[int, int]  # signed: what the tubes gained (+) or lost (-)
    order_id: int | None
    username: str | None

    @property
    def cents(self) -> int:
        return coins_value(self.deltas)


@dataclass
class HistoryPage:
    items: list[TubeMovement]
    older: int | None  # the `before` of the next (older) page, None at the end


def _label(kind: str, deltas: dict[int, int]) -> str:
    if kind == "tubes_set":
        if all(d <= 0 for d in deltas.values()):
            return "Collected into the cash box"
        if all(d >= 0 for d in deltas.values()):
            return "Refilled"
        return "Set by the operator"
    return {
        "float_loaded": "Float loaded",
        "escrow_to_tubes": "Sale: coins in",
        "change_paid": "Sale: change out",
        "refund_paid": "Refund paid",
    }.get(kind, kind)


def tube_history(actor: Actor, *, before: int | None = None, size: int = 20,
                 operator_only: bool = False) -> HistoryPage:
    """What went into and out of the tubes, newest first, from the ledger; a page of `size` rows older than
    the ledger row `before` (keyset on the ledger's id: the same cost at any depth)."""
    require_role(actor, "admin")
    kinds = ("float_loaded", "tubes_set") if operator_only else HISTORY_KINDS
    stmt = (
        select(LedgerEntry, User.username)
        .outerjoin(User, User.id == LedgerEntry.user_id)
        .where(LedgerEntry.kind.in_(kinds))
        .order_by(LedgerEntry.id.desc())
        .limit(size + 1)
    )
    if before is not None:
        stmt = stmt.where(LedgerEntry.id < before)
    rows = db.session.execute(stmt).all()
    items = []
    for entry, username in rows[:size]:
        sign = LEDGER_EFFECTS[entry.kind][0]
        deltas = {coin: sign * entry.coins[coin] for coin in COINS}
        items.append(TubeMovement(entry.id, entry.created_at, entry.kind, _label(entry.kind, deltas), deltas,
                                  entry.order_id, username))
    return HistoryPage(items, items[-1].id if len(rows) > size else None)


# ---------------------------------------------------------------- users


def find_users(actor: Actor, *, q: str | None = None, role: str | None = None) -> Select:
    """Users whose name contains `q` (any case), of one role or all, oldest first: a select to page."""
    require_role(actor, "admin")
    stmt = select(User).order_by(User.id)
    if role:
        if role not in ("buyer", "seller", "admin"):
            raise InvalidInput("Role must be buyer, seller or admin", field="role")
        stmt = stmt.where(User.role == role)
    if q:
        escaped = q[:USER_QUERY_MAX].lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(User.username_key.like(f"%{escaped}%", escape="\\"))
    return stmt


def seller_id_by_name(actor: Actor, username: str) -> int:
    """The id of the seller with this username (any case), for the orders filter."""
    require_role(actor, "admin")
    seller_id = db.session.scalar(
        select(User.id).where(User.username_key == username.strip().lower(), User.role == "seller")
    )
    if seller_id is None:
        raise InvalidInput(f"No seller is called “{username.strip()}”", field="seller")
    return seller_id
