"""make_change: fewest coins from limited tubes, exact or nothing."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.coins import COINS, coins_to_list, coins_value, make_change


def brute_force_fewest(amount: int, tubes: dict[int, int]) -> int | None:
    best = None
    ranges = [range(min(tubes[c], amount // c) + 1) for c in COINS]
    for counts in itertools.product(*ranges):
        if sum(c * n for c, n in zip(COINS, counts, strict=True)) == amount:
            best = min(best or sum(counts), sum(counts))
    return best


def tubes_of(**counts) -> dict[int, int]:
    return {coin: counts.get(f"c{coin}", 0) for coin in COINS}


def test_greedy_dead_end_is_avoided():
    # 60 from one 50 and three 20s: greedy takes the 50 and is stuck; the answer is 20+20+20.
    change = make_change(60, tubes_of(c50=1, c20=3))
    assert coins_to_list(change) == [20, 20, 20]


def test_fewest_coins_with_plenty():
    assert coins_to_list(make_change(185, tubes_of(c5=9, c10=9, c20=9, c50=9, c100=9))) == [100, 50, 20, 10, 5]


def test_zero_change_needs_no_coins():
    assert coins_value(make_change(0, tubes_of())) == 0


@pytest.mark.parametrize(
    ("amount", "tubes"),
    [
        (5, tubes_of(c10=5)),  # nothing small enough
        (30, tubes_of(c20=1, c50=3)),  # 20 + ? no 10 or 5
        (15, tubes_of(c10=1)),  # one 10 is not 15
        (7, tubes_of(c5=5)),  # not a multiple of 5
        (-5, tubes_of(c5=5)),
    ],
)
def test_no_exact_change_returns_none(amount, tubes):
    assert make_change(amount, tubes) is None


def test_never_takes_more_than_a_tube_holds():
    change = make_change(350, tubes_of(c100=2, c50=1, c20=5))
    assert change[100] == 2 and change[50] == 1 and change[20] == 5
    assert coins_value(change) == 350


def test_large_amount_from_small_coins_only():
    change = make_change(99_995, tubes_of(c5=20_000))
    assert change == tubes_of(c5=19_999)


@settings(max_examples=400, deadline=None)
@given(
    amount=st.integers(min_value=0, max_value=120).map(lambda n: n * 5),
    counts=st.tuples(*[st.integers(min_value=0, max_value=7) for _ in COINS]),
)
def test_property_exact_fewest_and_within_stock(amount, counts):
    tubes = dict(zip(COINS, counts, strict=True))
    result = make_change(amount, tubes)
    fewest = brute_force_fewest(amount, tubes)
    if fewest is None:
        assert result is None
    else:
        assert result is not None
        assert coins_value(result) == amount
        assert all(result[c] <= tubes[c] for c in COINS)
        assert sum(result.values()) == fewest


def fewest_unlimited(limit: int) -> dict[int, tuple[int, int]]:
    """For each amount up to `limit`: (fewest coins with unlimited tubes, how many payouts use that few)."""
    best = {0: (0, 1)}
    for amount in range(5, limit + 1, 5):
        counts = []
        for n100 in range(amount // 100 + 1):
            for n50 in range((amount - 100 * n100) // 50 + 1):
                for n20 in range((amount - 100 * n100 - 50 * n50) // 20 + 1):
                    rest = amount - 100 * n100 - 50 * n50 - 20 * n20
                    for n10 in range(rest // 10 + 1):
                        counts.append(n100 + n50 + n20 + n10 + (rest - 10 * n10) // 5)
        fewest = min(counts)
        best[amount] = (fewest, counts.count(fewest))
    return best


def test_with_plenty_of_coins_the_payout_is_the_fewest_by_brute_force():
    """Every amount up to 400 cents (in a fewest-coin payout the coins below 100 stay under 200 cents,
    so these cover every case): as few coins as the brute force finds."""
    plenty = dict.fromkeys(COINS, 1000)
    for amount, (fewest, _payouts) in fewest_unlimited(400).items():
        payout = make_change(amount, plenty)
        assert coins_value(payout) == amount and sum(payout.values()) == fewest, amount
