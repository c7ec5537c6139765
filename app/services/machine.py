"""The coin tubes: what the machine holds to pay change from. The one module that reads or moves them."""

from sqlalchemy import bindparam, case, insert, select, update

from app.data.transactions import StaleRead, write_transaction
from app.extensions import db
from app.models import CoinTube
from app.services import ledger
from app.services.coins import COINS
from app.services.errors import InvalidInput
from app.services.policy import Actor, require_role

MAX_TUBE_COUNT = 1_000_000
TUBES = CoinTube.__table__


READ_TUBES = select(TUBES.c.coin, TUBES.c.count).order_by(TUBES.c.coin)
LOCK_TUBES = READ_TUBES.with_for_update()
_DELTA = case({coin: bindparam(f"delta_{coin}") for coin in COINS}, value=TUBES.c.coin, else_=0)
# The rows are locked in coin order (an UPDATE alone would lock them in the order it finds them on disk, which
# differs between transactions: deadlocks), and a tube that would go below zero is not written: the caller
# learns it from the rows matched.
_IN_COIN_ORDER = select(TUBES.c.coin).order_by(TUBES.c.coin).with_for_update().subquery("locked")
MOVE_COINS = (
    update(TUBES)
    .where(TUBES.c.coin == _IN_COIN_ORDER.c.coin, TUBES.c.count + _DELTA >= 0)
    .values(count=TUBES.c.count + _DELTA)
)


def tube_counts(initial_float: int, *, lock: bool) -> dict[int, int]:
    """Every tube's count; with `lock`, the rows locked (in coin order) until the transaction ends.

    A fresh install has no tube rows: they are created with INITIAL_FLOAT coins each, recorded in the
    ledger. Two first sales racing to do it: one insert wins, the other's unique violation makes its
    transaction run again (app.data.transactions), and then it finds the rows.
    """
    counts = {coin: count for coin, count in db.session.execute(LOCK_TUBES if lock else READ_TUBES)}
    missing = {coin: initial_float for coin in COINS if coin not in counts}
    if missing:
        db.session.execute(insert(TUBES).values([{"coin": coin, "count": n} for coin, n in missing.items()]))
        ledger.record(ledger.entry("float_loaded", missing))
        counts.update(missing)
    return counts


def lock_tubes(initial_float: int) -> dict[int, int]:
    return tube_counts(initial_float, lock=True)


def move_coins(delta: dict[int, int]) -> None:
    """Add a signed count to every tube in one statement, which locks the tube rows until the
    transaction ends. If a tube would go below zero (the counts the caller read without a lock have
    changed since), nothing may be written: StaleRead, and the transaction runs again."""
    if any(delta.values()):
        moved = db.session.execute(MOVE_COINS, {f"delta_{coin}": delta.get(coin, 0) for coin in COINS}).rowcount
        if moved != len(COINS):
            raise StaleRead


@write_transaction
def get_tubes(actor: Actor, *, initial_float: int) -> dict[int, int]:
    require_role(actor, "admin")
    return lock_tubes(initial_float)


@write_transaction
def set_tubes(actor: Actor, counts: dict[int, int], *, initial_float: int) -> dict[int, int]:
    """An operator refills or empties the tubes; the ledger records the difference."""
    require_role(actor, "admin")
    for coin in COINS:
        if coin not in counts:
            raise InvalidInput(f"A count for the {coin} cent tube is required", field=str(coin))
        if type(counts[coin]) is not int or not 0 <= counts[coin] <= MAX_TUBE_COUNT:
            raise InvalidInput(f"Counts must be between 0 and {MAX_TUBE_COUNT}", field=str(coin))
    tubes = lock_tubes(initial_float)
    delta = {coin: counts[coin] - tubes[coin] for coin in COINS}
    if any(delta.values()):
        move_coins(delta)
        ledger.record(ledger.entry("tubes_set", delta, user_id=actor.id))
    return {coin: counts[coin] for coin in COINS}
