"""The machine page's tiles: a page of what is on sale, each saying what its button does for the buyer's coins."""

import pytest

from app.services import storefront, vending
from app.services.errors import ChangeImpossible
from tests.factories import make_product

INITIAL_FLOAT = 20


def escrow(**coins: int) -> vending.Escrow:
    """An escrow of coins given as c5=1, c100=2, ..."""
    counts = {coin: coins.get(f"c{coin}", 0) for coin in (5, 10, 20, 50, 100)}
    return vending.Escrow(sum(coin * n for coin, n in counts.items()), counts)


def tiles(coins: vending.Escrow, **options):
    return storefront.machine_tiles(coins, initial_float=INITIAL_FLOAT, q=options.get("q"), page=1,
                                    page_size=options.get("page_size", 12)).items


def test_tiles_are_one_page_of_the_products_on_sale_with_what_is_missing(app, seller):
    for n in range(14):
        make_product(seller, product_name=f"Snack {n:02d}", cost=40 + 5 * n)
    make_product(seller, product_name="Gone", amount_available=0)
    first = storefront.machine_tiles(escrow(c50=1), initial_float=INITIAL_FLOAT, q=None, page=1, page_size=12)
    assert first.total == 15 and len(first.items) == 12
    assert [t.product.product_name for t in first.items[:4]] == ["Snack 00", "Snack 01", "Snack 02", "Snack 03"]
    assert [t.state for t in first.items[:5]] == ["buy", "buy", "buy", "short", "short"]
    assert [t.missing for t in first.items[:5]] == [None, None, None, 5, 10]
    assert [t.can_buy for t in first.items[:4]] == [True, True, True, False]
    found = tiles(escrow(c50=1), q="snack 1")
    assert [t.product.product_name for t in found] == [f"Snack {n}" for n in range(10, 14)]
    assert [(t.product.product_name, t.state) for t in tiles(escrow(c50=1), q="gone")] == [("Gone", "sold_out")]


def test_a_tile_says_exact_change_when_the_tubes_cannot_pay_its_change(app, seller, set_tubes):
    gum = make_product(seller, product_name="Gum", cost=35)
    make_product(seller, product_name="Cola", cost=100)
    set_tubes({10: 5, 20: 5})  # no 5-cent coins: 15 of change cannot be paid, 65 can't, 0 always can
    by_name = {t.product.product_name: t for t in tiles(escrow(c50=1))}
    assert (by_name["Gum"].state, by_name["Cola"].state) == ("exact_change", "short")
    assert [t.state for t in tiles(escrow(c20=1, c10=1, c5=1))] == ["buy", "short"]  # 35 exactly: no change
    # the buyer's own coins drop into the tubes first and pay change too: 5+5+50 for Gum leaves 25 = 20 + 5
    assert tiles(escrow(c5=2, c50=1))[0].state == "buy"
    assert [t.state for t in tiles(escrow(c100=1))] == ["exact_change", "buy"]
    # the tile and the buy agree: the refused buy is the one the tile warned of
    buyer_coins = escrow(c50=1)
    assert tiles(buyer_coins)[0].state == "exact_change"
    assert vending.change_from(50 - gum.cost, buyer_coins.coins, {5: 0, 10: 5, 20: 5, 50: 0, 100: 0}) is None


@pytest.mark.parametrize("deposit_coins", [(50,), (20, 10, 5)])
def test_the_buy_refuses_exactly_what_the_tile_said(app, seller, buyer, set_tubes, deposit_coins):
    gum = make_product(seller, product_name="Gum", cost=35)
    set_tubes({10: 5, 20: 5})
    for coin in deposit_coins:
        vending.deposit(buyer.actor, coin, max_deposit=1000)
    said = tiles(vending.get_escrow(buyer.actor))[0].state
    if said == "exact_change":
        with pytest.raises(ChangeImpossible, match="cannot give €0.15 in change .* insert exactly €0.35"):
            vending.buy(buyer.actor, gum.id, 1, initial_float=INITIAL_FLOAT)
    else:
        assert said == "buy"
        assert vending.buy(buyer.actor, gum.id, 1, initial_float=INITIAL_FLOAT).change == []
