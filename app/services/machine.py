"""The coin tubes: what the machine holds to pay change from."""

from sqlalchemy import bindparam, case, select, update

from app.extensions import db
from app.models import CoinTube, LedgerEntry
from app.services.coins import COINS, empty_coins
from app.services.errors import InvalidInput
from app.services.hotsql import HotStatement
from app.services.policy import Actor, require_role
from app.services.tx import locked, needs_session, write_transaction

MAX_TUBE_COUNT = 1_000_000


def lock_tubes(initial_float: int) -> dict[int, CoinTube]:
    """Lock every tube row (in coin order); a fresh install is filled with its float first."""
    tubes = {t.coin: t for t in db.session.scalars(locked(select(CoinTube).order_by(CoinTube.coin)))}
    missing = [coin for coin in COINS if coin not in tubes]
    if missing:
        loaded = empty_coins()
        for coin in missing:
            tubes[coin] = CoinTube(coin=coin, count=initial_float)
            loaded[coin] = initial_float
            db.session.add(tubes[coin])
        db.session.add(LedgerEntry.of("float_loaded", loaded))
        db.session.flush()
    return tubes


_TUBES = CoinTube.__table__
_LOCK_TUBE_COUNTS = HotStatement(select(_TUBES.c.coin, _TUBES.c.count).order_by(_TUBES.c.coin).with_for_update())
_MOVE_COINS = HotStatement(
    update(_TUBES).values(
        count=_TUBES.c.count + case({coin: bindparam(f"delta_{coin}") for coin in COINS}, value=_TUBES.c.coin, else_=0)
    )
)


def lock_tube_counts(initial_float: int) -> dict[int, int]:
    """lock_tubes() for the hot path: the counts only, read in one statement without ORM objects."""
    counts = {row.coin: row.count for row in _LOCK_TUBE_COUNTS.all({})}
    if len(counts) < len(COINS):
        needs_session()  # a fresh install: its float is loaded through the session
        return tube_counts(lock_tubes(initial_float))
    return counts


def move_coins(delta: dict[int, int]) -> None:
    """Add a signed count to every tube in one statement (the tubes must be locked)."""
    _MOVE_COINS.execute({f"delta_{coin}": delta.get(coin, 0) for coin in COINS})


def tube_counts(tubes: dict[int, CoinTube]) -> dict[int, int]:
    return {coin: tubes[coin].count for coin in COINS}


def add_to_tubes(tubes: dict[int, CoinTube], coins: dict[int, int], sign: int) -> None:
    for coin, count in coins.items():
        tubes[coin].count += sign * count


@write_transaction
def get_tubes(actor: Actor, *, initial_float: int) -> dict[int, int]:
    require_role(actor, "admin")
    return tube_counts(lock_tubes(initial_float))


@write_transaction
def set_tubes(actor: Actor, counts: dict[int, int], *, initial_float: int) -> dict[int, int]:
    """An operator refills or empties the tubes; the ledger records the difference."""
    require_role(actor, "admin")
    for coin in COINS:
        if coin not in counts:
            raise InvalidInput(f"A count for the {coin} cent tube is required", field=str(coin))
        if not 0 <= counts[coin] <= MAX_TUBE_COUNT:
            raise InvalidInput(f"Counts must be between 0 and {MAX_TUBE_COUNT}", field=str(coin))
    tubes = lock_tubes(initial_float)
    delta = {coin: counts[coin] - tubes[coin].count for coin in COINS}
    if any(delta.values()):
        add_to_tubes(tubes, delta, +1)
        db.session.add(LedgerEntry.of("tubes_set", delta, user_id=actor.id))
    return tube_counts(tubes)
