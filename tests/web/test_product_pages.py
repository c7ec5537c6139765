"""Receipts, sessions' device names, the operator's tubes and users pages, and the oversized picture."""

import io

from sqlalchemy import select

from app.extensions import db
from app.models import CoinTube, Order, Product
from app.services import audit
from tests.factories import deposit_coins, make_product
from tests.web.test_images import MIB, _image_state, multipart, noisy_png

CHROME_LINUX = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/131.0.0.0 Safari/537.36")


def bought(client, buyer, product) -> Order:
    deposit_coins(client, buyer, 100)
    client.post("/api/v1/buy", json={"productId": product.id}, headers=buyer.headers)
    db.session.rollback()
    return db.session.scalars(select(Order).order_by(Order.id.desc())).first()


def test_a_receipt_for_the_buyer_the_seller_and_the_operator_and_no_one_else(
        client, app, buyer, other_buyer, seller, other_seller, admin, web_login, set_tubes):
    set_tubes({5: 4, 10: 4, 20: 4, 50: 4})
    order = bought(client, buyer, make_product(seller, product_name="Cola", cost=35))
    for account in (buyer, seller, admin):
        web_login(account)
        body = client.get(f"/orders/{order.id}").get_data(as_text=True)
        assert f"order #{order.id}" in body and "Cola" in body and 'id="receipt-total">€0.35<' in body
        assert "€1.00" in body and "€0.65" in body and "data-print" in body
        client.post("/logout")
    for account in (other_buyer, other_seller):
        web_login(account)
        client.get("/")  # the "Logged in" message is shown there
        theirs = client.get(f"/orders/{order.id}")
        missing = client.get("/orders/999999")
        assert theirs.status_code == missing.status_code == 404
        assert "No such order" in theirs.get_data(as_text=True)
        assert theirs.get_data(as_text=True) == missing.get_data(as_text=True)
        client.post("/logout")


def test_every_order_list_links_its_receipts(client, buyer, seller, admin, web_login, set_tubes):
    set_tubes({5: 4, 10: 4, 20: 4, 50: 4})
    order = bought(client, buyer, make_product(seller, product_name="Cola", cost=35))
    for account, pages in ((buyer, ("/machine", "/orders")), (seller, ("/seller/sales",)), (admin, ("/admin/orders",))):
        web_login(account)
        for path in pages:
            assert f'href="/orders/{order.id}"' in client.get(path).get_data(as_text=True), path
        client.post("/logout")


def test_sessions_show_device_names(client, buyer):
    client.post("/login", data={"username": "buyer", "password": buyer.password}, headers={"User-Agent": CHROME_LINUX})
    body = client.get("/sessions", headers={"User-Agent": CHROME_LINUX}).get_data(as_text=True)
    assert "Chrome on Linux · this device" in body
    assert "Unknown device" in body  # the fixture's API token, user agent "pytest"


def test_an_oversized_picture_gets_the_form_again_with_the_error_at_the_field(client, seller, web_login):
    product = make_product(seller, product_name="Cola")
    web_login(seller)
    response = client.post(f"/seller/products/{product.id}/image", **multipart(noisy_png(MIB + 80 * 1024)))
    body = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "Picture of “Cola”" in body and 'id="image-form"' in body
    assert "The picture is larger than 1024 KiB: choose a smaller file" in body and "is-invalid" in body
    assert 'data-max-bytes="1048576"' in body
    assert _image_state(product.id) == (None, None, 0)


def test_sellers_type_prices_in_euros(client, seller, web_login, db_snapshot):
    web_login(seller)
    form = client.get("/seller/products/new").get_data(as_text=True)
    assert "Price in euros" in form and "data-euro-input" in form
    before = db_snapshot()
    for typed, message in (("35 cents", "Enter the price in euros, e.g. 0.35"),
                           ("0.33", "The price must be a multiple of 5 cents"), ("", "Enter the price in euros")):
        body = client.post("/seller/products/new", data={"product_name": "Tea", "cost": typed,
                                                         "amount_available": 1}).get_data(as_text=True)
        assert message in body and "is-invalid" in body, typed
        assert f'value="{typed}"' in body  # what was typed stays in the form
    assert db_snapshot() == before
    client.post("/seller/products/new", data={"product_name": "Tea", "cost": "1,2", "amount_available": 1})
    product = db.session.scalar(select(Product).where(Product.product_name == "Tea"))
    assert product.cost == 120
    assert 'value="1.20"' in client.get(f"/seller/products/{product.id}/edit").get_data(as_text=True)


def test_operator_refills_collects_and_sees_the_history(client, admin, web_login, set_tubes, db_snapshot):
    set_tubes({5: 30, 10: 5, 20: 12, 50: 3, 100: 40})
    web_login(admin)
    page = client.get("/admin/tubes").get_data(as_text=True)
    assert 'id="refill-form"' in page and 'id="collect-form"' in page
    assert 'name="collect-c5" required type="number" value="20"' in page  # the float, INITIAL_FLOAT by default
    body = client.post("/admin/tubes/refill", data={"refill-c5": 0, "refill-c10": 10, "refill-c20": 0,
                                                    "refill-c50": 2, "refill-c100": 0},
                       follow_redirects=True).get_data(as_text=True)
    assert "Refilled the tubes with €2.00." in body
    keep = {f"collect-c{c}": 10 for c in (5, 10, 20, 50, 100)}
    unconfirmed = db_snapshot()
    confirm = client.post("/admin/tubes/collect", data=keep).get_data(as_text=True)
    assert "Collect €31.90 into the cash box?" in confirm and 'name="collect-expected_cents" value="3190"' in confirm
    assert db_snapshot() == unconfirmed  # asked, nothing taken yet
    body = client.post("/admin/tubes/collect", data={**keep, "collect-expected_cents": 3190},
                       follow_redirects=True).get_data(as_text=True)
    assert "Collected €31.90 into the cash box; the float stays in the tubes." in body
    db.session.rollback()
    assert {t.coin: t.count for t in db.session.scalars(select(CoinTube))} == {5: 10, 10: 10, 20: 10, 50: 5, 100: 10}
    assert "Collected into the cash box" in body and "Refilled" in body and "−" not in body
    assert audit.run_audit().clean
    before = db_snapshot()
    refused = client.post("/admin/tubes/collect", data={f"collect-c{c}": 50 for c in (5, 10, 20, 50, 100)}
                          ).get_data(as_text=True)
    assert "Nothing to collect" in refused
    bad = client.post("/admin/tubes/refill", data={"refill-c5": -1, "refill-c10": 0, "refill-c20": 0,
                                                   "refill-c50": 0, "refill-c100": 0}).get_data(as_text=True)
    assert "Coins to add must be whole numbers from 0 to 1000000" in bad and "is-invalid" in bad
    assert db_snapshot() == before


def test_operator_searches_users(client, admin, make_account, web_login):
    for name in ("anna", "annika", "bob"):
        make_account("buyer", name)
    make_account("seller", "annette")
    web_login(admin)
    body = client.get("/admin/users?q=ANN").get_data(as_text=True)
    assert "3 users matching “ANN”" in body and "annette" in body and ">bob<" not in body
    body = client.get("/admin/users?q=ann&role=seller").get_data(as_text=True)
    assert "1 user matching" in body and "annette" in body and "annika" not in body
    assert "Role must be buyer, seller or admin" in client.get("/admin/users?role=x", follow_redirects=True
                                                                ).get_data(as_text=True)


def test_tables_stack_on_phones_with_labels(client, seller, web_login):
    make_product(seller, product_name="Cola")
    web_login(seller)
    body = client.get("/seller/products").get_data(as_text=True)
    assert 'class="table bg-body align-middle table-stack"' in body and 'data-label="Price"' in body
    assert '<td class="text-end actions">' in body


def test_picture_input_is_unchanged_by_a_good_upload(client, seller, web_login, png):
    product = make_product(seller, product_name="Cola")
    web_login(seller)
    ok = client.post(f"/seller/products/{product.id}/image", data={"image": (io.BytesIO(png()), "a.png")},
                     content_type="multipart/form-data", follow_redirects=True)
    assert "New picture saved for “Cola”." in ok.get_data(as_text=True)


def test_low_stock_warning_level_per_product(client, seller, web_login, db_snapshot):
    web_login(seller)
    client.post("/seller/products/new", data={"product_name": "Tea", "cost": "0.45", "amount_available": 4,
                                              "low_stock_at": 5})
    product = db.session.scalar(select(Product).where(Product.product_name == "Tea"))
    assert product.low_stock_at == 5
    assert "Low stock" in client.get("/seller/products").get_data(as_text=True)
    client.post(f"/seller/products/{product.id}/edit", data={"product_name": "Tea", "cost": "0.45",
                                                            "amount_available": 4, "low_stock_at": 2})
    assert "Low stock" not in client.get("/seller/products").get_data(as_text=True)
    before = db_snapshot()
    body = client.post(f"/seller/products/{product.id}/edit", data={"product_name": "Tea", "cost": "0.45",
                                                                   "amount_available": 4, "low_stock_at": -1}
                       ).get_data(as_text=True)
    assert "The warning level must be a whole number from 0 to 10000" in body and "is-invalid" in body
    assert db_snapshot() == before
    db.session.expire_all()
    assert db.session.get(Product, product.id).low_stock_at == 2


def test_low_tubes_are_highlighted_at_the_operators_levels(client, admin, web_login, set_tubes):
    set_tubes({5: 2, 10: 0, 20: 9, 50: 20, 100: 20})
    web_login(admin)
    body = client.get("/admin/tubes").get_data(as_text=True)
    assert body.count("tube-low") == 2 and "Empty · warns at 5" in body and "Low · warns at 5" in body
    body = client.post("/admin/tubes/levels", data={"low-c5": 1, "low-c10": 0, "low-c20": 10, "low-c50": 0,
                                                    "low-c100": 0}, follow_redirects=True).get_data(as_text=True)
    assert "The low-tube warning levels were saved." in body
    assert body.count("tube-low") == 2 and "Low · warns at 10" in body and "Empty · warns at 0" in body
    bad = client.post("/admin/tubes/levels", data={"low-c5": "x", "low-c10": 0, "low-c20": 10, "low-c50": 0,
                                                   "low-c100": 0}).get_data(as_text=True)
    assert "is-invalid" in bad and "<details class=\"card shadow-sm mb-3\" open>" in bad
