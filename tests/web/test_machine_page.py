"""The live machine page: tiles, fragments for the page's script, errors at the Buy button, exact change."""

import re

from sqlalchemy import select

from app.extensions import db
from app.models import Order, Product, User
from tests.factories import make_product

LIVE = {"X-Live-Update": "machine"}


def tile(body: str, product_id: int) -> str:
    """The HTML of one product's tile."""
    start = body.rindex('<div class="card', 0, body.index(f'id="tile-{product_id}"'))
    end = body.find('<div class="col">', start)
    return body[start:end if end > 0 else None]


def buy_button(body: str, product_id: int) -> str:
    """The Buy button of one product's tile: its attributes and its text."""
    return re.search(rf'<button [^>]*id="buy-{product_id}"[^>]*>([^<]*)</button>', body, re.DOTALL).group(0)


def test_tiles_show_one_page_of_what_is_on_sale_dimmed_when_unaffordable(client, buyer, seller, web_login):
    for n in range(14):
        make_product(seller, product_name=f"Snack {n:02d}", cost=50 + 10 * n)
    make_product(seller, product_name="Sold out thing", amount_available=0)
    web_login(buyer)
    client.post("/machine/deposit", data={"coin": 50})
    body = client.get("/machine").get_data(as_text=True)
    assert body.count('class="card h-100 tile') == 12
    assert "Snack 11" in body and "Snack 12" not in body and "Sold out thing" not in body
    first, fifth = (db.session.scalar(select(Product.id).where(Product.product_name == name))
                    for name in ("Snack 00", "Snack 04"))
    assert "tile-buy" in tile(body, first) and ">Buy</button>" in buy_button(body, first)
    assert "tile-short" in tile(body, fifth) and ">Insert €0.40 more</button>" in buy_button(body, fifth)
    second = client.get("/machine?page=2").get_data(as_text=True)
    assert "Snack 12" in second and "Snack 13" in second and "Snack 00" not in second
    assert "Sold out thing" in second  # sold out keeps its place, as in a real machine
    found = client.get("/machine?q=snack 13").get_data(as_text=True)
    assert found.count('class="card h-100 tile') == 1
    past = client.get("/machine?page=9").get_data(as_text=True)
    assert "Page 9 is past the end" in past and "Nothing is in stock" not in past


def test_a_coin_asked_for_live_answers_with_the_live_parts_only(client, buyer, seller, web_login):
    product = make_product(seller, product_name="Gum", cost=60)
    web_login(buyer)
    response = client.post("/machine/deposit", data={"coin": 50}, headers=LIVE)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["X-Fragment"] == "machine"
    assert "X-Live-Update" in response.headers["Vary"]
    assert "<html" not in body and "<nav" not in body
    assert 'id="machine-status"' in body and "Inserted 50c. Deposit: €0.50." in body
    assert 'id="deposit">€0.50<' in body and "Insert €0.10 more" in tile(body, product.id)
    assert db.session.get(User, buyer.id).deposit == 50
    # the same request without the header: the page again, after a redirect (works without JavaScript)
    plain = client.post("/machine/deposit", data={"coin": 10})
    assert plain.status_code == 302 and plain.headers["Location"] == "/machine"


def test_a_live_buy_shows_the_change_and_announces_it(client, buyer, seller, web_login, set_tubes):
    product = make_product(seller, product_name="Gum", cost=35, amount_available=5)
    set_tubes({50: 1, 5: 1})
    web_login(buyer)
    for coin in (100, 20, 5):
        client.post("/machine/deposit", data={"coin": coin}, headers=LIVE)
    body = client.post("/machine/buy", data={"product_id": product.id, "amount": 2, "expected_cost": 35},
                       headers=LIVE).get_data(as_text=True)
    assert 'id="result"' in body and 'id="total-spent">€0.70<' in body
    assert re.search(r'class="visually-hidden[^"]*">You bought 2 × Gum for €0.70\. Your change: €0.55 \(50c, 5c\)',
                     body)
    order = db.session.scalar(select(Order))
    assert f'href="/orders/{order.id}"' in body and (order.total_spent, order.change) == (70, [50, 5])


def test_a_refused_buy_says_how_much_more_next_to_the_buy_button_and_changes_nothing(
        client, buyer, seller, web_login, db_snapshot):
    product = make_product(seller, product_name="Cola", cost=150)
    web_login(buyer)
    client.post("/machine/deposit", data={"coin": 10})
    before = db_snapshot()
    for headers in ({}, LIVE):
        response = client.post("/machine/buy", data={"product_id": product.id, "amount": 1, "expected_cost": 150},
                               headers=headers)
        mine = tile(response.get_data(as_text=True), product.id)
        assert response.status_code == 200
        assert 'id="buy-error-' in mine and "insert €1.40 more" in mine and "150 cents" not in mine
        # the cause is the deposit, not the quantity typed: the Buy button points at the reason, the field is fine
        assert 'aria-describedby="buy-error-' in buy_button(mine, product.id)
        assert "is-invalid" not in mine and "aria-invalid" not in mine
    assert db_snapshot() == before


def test_each_tile_says_what_its_button_does(client, buyer, seller, web_login, set_tubes):
    gum = make_product(seller, product_name="Gum", cost=35)
    crisps = make_product(seller, product_name="Crisps", cost=50)
    cola = make_product(seller, product_name="Cola", cost=150)
    tea = make_product(seller, product_name="Tea", cost=20, amount_available=0)
    set_tubes({10: 5, 20: 5})  # no 5-cent coins: 50 - 35 = 15 cannot be given back
    web_login(buyer)
    body = client.post("/machine/deposit", data={"coin": 50}, follow_redirects=True).get_data(as_text=True)
    expected = {
        gum: ("exact_change", "Exact change only: insert exactly €0.35", True),
        crisps: ("buy", "Buy", False),
        cola: ("short", "Insert €1.00 more", True),
        tea: ("sold_out", "Sold out", True),
    }
    for product, (state, text, disabled) in expected.items():
        button = buy_button(body, product.id)
        assert f"tile-{state}" in tile(body, product.id), product.product_name
        assert button.endswith(f">{text}</button>"), button
        assert (" disabled" in button) == disabled and ("btn-success" in button) == (not disabled), button
    assert re.search(rf'id="amount-{tea.id}"[^>]*disabled', body, re.DOTALL)


def test_a_buy_of_more_than_is_left_blames_the_quantity(client, buyer, seller, web_login, db_snapshot):
    gum = make_product(seller, product_name="Gum", cost=5, amount_available=2)
    web_login(buyer)
    client.post("/machine/deposit", data={"coin": 50})
    before = db_snapshot()
    body = client.post("/machine/buy", data={"product_id": gum.id, "amount": 3, "expected_cost": 5}
                       ).get_data(as_text=True)
    mine = tile(body, gum.id)
    assert "Only 2 of Gum left" in mine and "is-invalid" in mine and 'aria-invalid="true"' in mine
    assert db_snapshot() == before


def test_a_changed_price_is_refused_next_to_the_buy_button(client, buyer, seller, web_login, db_snapshot):
    product = make_product(seller, product_name="Cola", cost=40)
    web_login(buyer)
    client.post("/machine/deposit", data={"coin": 50})
    before = db_snapshot()
    body = client.post("/machine/buy", data={"product_id": product.id, "amount": 1, "expected_cost": 35}
                       ).get_data(as_text=True)
    assert "The price changed: Cola now costs €0.40; nothing was bought" in tile(body, product.id)
    assert db_snapshot() == before


def test_a_bad_amount_is_refused_at_its_tile(client, buyer, seller, web_login, db_snapshot):
    product = make_product(seller, cost=5)
    web_login(buyer)
    client.post("/machine/deposit", data={"coin": 5})
    before = db_snapshot()
    for amount in (0, "lots"):
        body = client.post("/machine/buy", data={"product_id": product.id, "amount": amount}).get_data(as_text=True)
        mine = tile(body, product.id)
        assert "is-invalid" in mine
        assert "Amount must be a whole number from 1 to 10000" in mine or "Not a valid integer value" in mine
    assert db_snapshot() == before


def test_exact_change_only_warning_above_the_coins(client, buyer, seller, web_login, set_tubes):
    make_product(seller, product_name="Gum", cost=35)
    web_login(buyer)
    set_tubes({5: 0, 10: 5, 20: 5, 50: 5, 100: 5})
    body = client.get("/machine").get_data(as_text=True)
    assert "Exact change only." in body and "short of coins for change: insert exactly the price." in body
    assert body.index('id="exact-change"') < body.index('id="coin-buttons"')  # seen before a coin goes in
    set_tubes({5: 5, 10: 5, 20: 5, 50: 5, 100: 5})
    assert "Exact change only." not in client.get("/machine").get_data(as_text=True)


def test_coin_return_and_refund_in_euros_without_a_banner(client, buyer, seller, web_login, set_tubes):
    product = make_product(seller, product_name="Apple", cost=50, refundable=True)
    set_tubes({5: 5, 10: 5, 20: 5, 50: 2})
    web_login(buyer)
    client.post("/machine/deposit", data={"coin": 50})
    client.post("/machine/buy", data={"product_id": product.id, "amount": 1})
    order = db.session.scalar(select(Order))
    body = client.post(f"/orders/{order.id}/refund", headers=LIVE).get_data(as_text=True)
    assert "Refund of Apple" in body and f"Order #{order.id} refunded: €0.50 paid back (50c)." in body
    body = client.post("/machine/reset", follow_redirects=True).get_data(as_text=True)
    assert "There were no coins to return." in body and "alert-" not in body.split('id="machine"')[1].split(
        'id="tiles-live"')[0]


def test_catalogue_past_the_last_page_and_placeholder_art(client, seller):
    for name in ("Cola", "Crisps", "Water"):
        make_product(seller, product_name=name)
    body = client.get("/?page=999").get_data(as_text=True)
    assert "3 products" in body and "No products yet" not in body
    assert "Page 999 is past the end" in body and 'href="/?page=1"' in body
    art = client.get("/").get_data(as_text=True)
    assert 'data-initial="C"' in art and "<span>C</span>" not in art


def test_footer_links_the_api_docs_and_theme_script_is_static(client):
    body = client.get("/").get_data(as_text=True)
    assert 'href="/api/docs"' in body
    assert '<script src="/static/js/theme.js"></script>' in body
    assert re.search(r"<script>|<script [^>]*>[^<]", body) is None  # no inline script
    assert " style=" not in body
