"""Coins as money: values, lists, euros, and change-making from limited tubes."""

from decimal import Decimal

from babel.numbers import format_currency

from app.models.coins import COINS, COINS_DESC

__all__ = ["COINS", "COINS_DESC"]  # the coin values themselves are written in app.models.coins

# Largest total (in 5-cent units) that 5/10/20/50 coins can reach without containing a
# sub-multiset worth exactly 100 cents: at most one 50, four 20s, nine 10s and nineteen 5s.
# In a fewest-coin payout that leaves a 100 in the tube, the smaller coins stay below this,
# else swapping such a sub-multiset for one 100 would use fewer coins.
_SMALL_COINS_MAX_UNITS = 10 + 4 * 4 + 9 * 2 + 19


def is_coin(value: object) -> bool:
    return type(value) is int and value in COINS


def in_euros(cents: int) -> Decimal:
    """Cents as an exact amount of euros: 150 -> Decimal("1.50") (str() gives "1.50", as a CSV wants)."""
    return Decimal(cents).scaleb(-2)


def euros(cents: int | None) -> str:
    """Money in the services' messages: 150 -> "€1.50", 100000 -> "€1000.00".

    The messages are English sentences shared by the API and the pages, so their amounts keep one neutral
    form, CLDR's English one without grouping, whoever reads them: a client may match or log them, and an
    amount in German inside an English sentence reads worse than this. What the pages draw themselves
    (prices, deposits, totals, change) is in the reader's locale (the `money` filter of app.home.filters).
    """
    return format_currency(in_euros(cents or 0), "EUR", locale="en", group_separator=False)


def coin_label(value: int) -> str:
    """A coin's short label, as on the coin: "5c" ... "50c", "€1"."""
    return "€1" if value == 100 else f"{value}c"


def empty_coins() -> dict[int, int]:
    return {coin: 0 for coin in COINS}


def coins_value(coins: dict[int, int]) -> int:
    return sum(coin * count for coin, count in coins.items())


def coins_to_list(coins: dict[int, int]) -> list[int]:
    """[100, 50, 5] style: every coin, largest first."""
    return [coin for coin in COINS_DESC for _ in range(coins.get(coin, 0))]


def list_to_coins(values: list[int]) -> dict[int, int]:
    coins = empty_coins()
    for value in values:
        coins[value] += 1
    return coins


def make_change(amount: int, tubes: dict[int, int]) -> dict[int, int] | None:
    """The payout of exactly `amount` cents with the fewest coins the tubes can give, or None.

    Greedy (largest coins first) is wrong with limited tubes (60 from one 50 and three 20s is
    20+20+20), so this is a bounded search: the number of 100s is confined to a window of a few
    values (see _SMALL_COINS_MAX_UNITS), and the rest is an exact bounded dynamic programme over
    5-cent units.
    """
    if amount < 0 or amount % 5:
        return None
    if amount == 0:
        return empty_coins()
    units = amount // 5
    available = {coin: max(0, int(tubes.get(coin, 0))) for coin in COINS}
    hi = min(available[100], units // 20)
    lo = max(0, -(-(units - _SMALL_COINS_MAX_UNITS) // 20))
    lo = min(lo, hi)
    best: dict[int, int] | None = None
    for n100 in range(hi, lo - 1, -1):
        rest = _fewest_small_coins(units - 20 * n100, available)
        if rest is None:
            continue
        candidate = {**rest, 100: n100}
        if best is None or sum(candidate.values()) < sum(best.values()):
            best = candidate
    return best


def _fewest_small_coins(units: int, available: dict[int, int]) -> dict[int, int] | None:
    """Bounded min-coin DP over 5, 10, 20 and 50 cent coins for `units` 5-cent units."""
    infinity = units + 1
    best = [0] + [infinity] * units
    choice: list[list[int]] = []
    for coin in (50, 20, 10, 5):
        step = coin // 5
        limit = min(available[coin], units // step)
        taken = [0] * (units + 1)
        if limit:
            # Sliding-window minimum per residue class: O(units) for each coin kind.
            new_best = best[:]
            for residue in range(step):
                window: list[tuple[int, int]] = []  # (k, best[k*step+residue] - k), increasing
                head = 0
                k = 0
                for total in range(residue, units + 1, step):
                    value = best[total] - k
                    while len(window) > head and window[-1][1] >= value:
                        window.pop()
                    window.append((k, value))
                    while window[head][0] < k - limit:
                        head += 1
                    j, v = window[head]
                    if v + k < new_best[total]:
                        new_best[total] = v + k
                        taken[total] = k - j
                    k += 1
            best = new_best
        choice.append(taken)
    if best[units] >= infinity:
        return None
    result = empty_coins()
    remaining = units
    for coin, taken in zip((5, 10, 20, 50), reversed(choice), strict=True):
        count = taken[remaining]
        result[coin] = count
        remaining -= count * (coin // 5)
    result[100] = 0
    return result if remaining == 0 else None
