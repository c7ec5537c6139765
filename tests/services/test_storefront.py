"""The machine page's tiles: a page of what is in stock, each with the sale rule's verdict for the deposit."""

from app.services import storefront
from tests.factories import make_product


def test_tiles_are_one_page_of_the_products_in_stock_with_what_is_missing(app, seller):
    for n in range(14):
        make_product(seller, product_name=f"Snack {n:02d}", cost=40 + 5 * n)
    make_product(seller, product_name="Gone", amount_available=0)
    first = storefront.machine_tiles(deposit=50, q=None, page=1, page_size=12)
    assert first.total == 14 and len(first.items) == 12
    assert [t.product.product_name for t in first.items[:4]] == ["Snack 00", "Snack 01", "Snack 02", "Snack 03"]
    assert [t.affordable for t in first.items[:4]] == [True, True, True, False]
    assert [t.shortfall for t in first.items[:5]] == [None, None, None, "insert €0.05 more", "insert €0.10 more"]
    second = storefront.machine_tiles(deposit=50, q="snack 1", page=1, page_size=12)
    assert [t.product.product_name for t in second.items] == [f"Snack {n}" for n in range(10, 14)]
