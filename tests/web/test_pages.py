"""The web pages, driven through the Flask test client (CSRF is off in TestConfig)."""

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuthSession, Order, Product, User
from app.services import sessions
from tests.factories import deposit_coins, make_product


def flashes(response) -> str:
    return response.get_data(as_text=True)


# ------------------------------------------------------------------ catalogue


def test_catalogue_is_public_with_price_stock_placeholder_and_sold_out(client, seller):
    make_product(seller, product_name="Cola", cost=135, amount_available=3)
    make_product(seller, product_name="Chips", cost=50, amount_available=0)
    body = client.get("/").get_data(as_text=True)
    assert "Cola" in body and "€1.35" in body and "3 left" in body
    assert "Sold out" in body and "€0.50" in body
    assert "placeholder-art" in body
    assert "cdn" not in body.lower() and "/bootstrap/static/" in body


def test_catalogue_search_and_pagination(client, seller):
    for n in range(14):
        make_product(seller, product_name=f"Snack {n:02d}")
    make_product(seller, product_name="Water")
    assert "Water" not in client.get("/?q=snack").get_data(as_text=True)
    first = client.get("/?q=snack").get_data(as_text=True)
    second = client.get("/?q=snack&page=2").get_data(as_text=True)
    assert "Snack 00" in first and "Snack 13" not in first
    assert "Snack 13" in second and "Snack 00" not in second
    assert "No products match" in client.get("/?q=zzz").get_data(as_text=True)


# ------------------------------------------------------------------ register / login / logout


def test_register_creates_account_and_logs_in(client):
    response = client.post(
        "/register",
        data={"username": "newbie", "password": "long-password", "confirm": "long-password", "role": "buyer"},
        follow_redirects=True,
    )
    body = response.get_data(as_text=True)
    assert "Welcome, newbie! Your buyer account is ready." in body
    user = db.session.scalar(select(User).where(User.username == "newbie"))
    assert user.role == "buyer"
    assert db.session.scalar(select(AuthSession.kind).where(AuthSession.user_id == user.id)) == "web"
    assert response.request.path == "/machine"


def test_register_hashes_the_password_once_and_never_verifies_it(client, monkeypatch):
    from app.services import passwords

    calls = {"hash": 0, "verify": 0}
    real_hash, real_verify = passwords.hash_password, passwords.verify_password

    def counting_hash(password):
        calls["hash"] += 1
        return real_hash(password)

    def counting_verify(stored, password):
        calls["verify"] += 1
        return real_verify(stored, password)

    monkeypatch.setattr(passwords, "hash_password", counting_hash)
    monkeypatch.setattr(passwords, "verify_password", counting_verify)
    client.post("/register", data={"username": "once", "password": "long-password", "confirm": "long-password",
                                   "role": "seller"})

    assert calls == {"hash": 1, "verify": 0}
    assert client.get("/seller/products").status_code == 200  # signed in as the new seller


def test_register_field_errors_come_from_the_service_rules(client, buyer, db_snapshot):
    before = db_snapshot()
    response = client.post(
        "/register", data={"username": "a b", "password": "short", "confirm": "other", "role": "admin"}
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Username must be 3-32 characters" in body
    assert "Password must be 8-128 characters" in body
    assert "Passwords differ" in body
    assert "Not a valid choice" in body
    taken = client.post(
        "/register", data={"username": "BUYER", "password": "long-password", "confirm": "long-password",
                           "role": "buyer"}
    )
    assert "That username is taken" in taken.get_data(as_text=True)
    assert db_snapshot() == before


def test_login_wrong_password_shows_error_next_to_field(client, buyer):
    response = client.post("/login", data={"username": "buyer", "password": "wrong-password"})
    body = response.get_data(as_text=True)
    assert "Invalid username or password" in body and "invalid-feedback" in body


def test_login_opens_a_web_session_and_warns_about_other_sessions(client, buyer, web_login):
    body = web_login(buyer, follow=True).get_data(as_text=True)
    assert "There is already an active session using your account" in body
    assert "End all other sessions" in body
    kinds = sorted(db.session.scalars(select(AuthSession.kind).where(AuthSession.user_id == buyer.id)))
    assert kinds == ["api", "web"]
    with client.session_transaction() as cookie:
        assert set(cookie) >= {"auth_token"} and "password" not in str(dict(cookie))


def test_end_other_sessions_keeps_this_one(client, buyer, web_login):
    web_login(buyer)
    body = client.post("/sessions/end-others", follow_redirects=True).get_data(as_text=True)
    assert "Ended 1 other session." in body
    rows = db.session.scalars(select(AuthSession).where(AuthSession.user_id == buyer.id)).all()
    assert [r.kind for r in rows] == ["web"]
    assert client.get("/machine").status_code == 200


def test_safe_next_redirect(client, buyer):
    ok = client.post("/login", data={"username": "buyer", "password": buyer.password, "next": "/sessions"})
    assert ok.headers["Location"] == "/sessions"
    client.post("/logout")
    # never another site, nor a URL that takes form posts only (a 405 after logging in), nor the JSON API: the
    # account's start page instead
    for bad in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "/machine/deposit", "/api/v1/deposit"):
        response = client.post("/login", data={"username": "buyer", "password": buyer.password, "next": bad})
        assert response.headers["Location"] == "/home", bad
        client.post("/logout")


def test_logout_ends_the_session_row(client, buyer, web_login):
    web_login(buyer)
    body = client.post("/logout", follow_redirects=True).get_data(as_text=True)
    assert "You have been logged out." in body
    assert db.session.scalars(select(AuthSession.kind).where(AuthSession.user_id == buyer.id)).all() == ["api"]
    assert client.get("/machine").headers["Location"].startswith("/login")


def test_api_logout_all_ends_the_browser_session(client, buyer, web_login):
    web_login(buyer)
    assert client.get("/machine").status_code == 200
    assert client.post("/api/v1/auth/logout/all", headers=buyer.headers).json == {"revoked": 2}
    response = client.get("/machine", follow_redirects=True)
    assert response.request.path == "/login"
    assert "please log in again" in response.get_data(as_text=True)


def test_sessions_page_lists_and_ends_one_or_all(client, buyer, web_login):
    web_login(buyer)
    body = client.get("/sessions").get_data(as_text=True)
    assert "API token" in body and "browser" in body and "this session" in body and "pytest" in body
    response = client.post(f"/sessions/{buyer.session_id}/end", follow_redirects=True)
    assert "That session has been ended." in response.get_data(as_text=True)
    assert not sessions.session_exists(buyer.session_id)
    body = client.post("/sessions/end-all", follow_redirects=True).get_data(as_text=True)
    assert "Logged out everywhere: 1 session ended" in body
    assert db.session.scalars(select(AuthSession).where(AuthSession.user_id == buyer.id)).all() == []


def test_cannot_end_another_users_session(client, buyer, other_buyer, web_login, db_snapshot):
    web_login(buyer)
    body = client.post(f"/sessions/{other_buyer.session_id}/end", follow_redirects=True).get_data(as_text=True)
    assert "No such session" in body
    assert sessions.session_exists(other_buyer.session_id)


# ------------------------------------------------------------------ role protection


def test_anonymous_is_sent_to_login(client):
    for path in ("/machine", "/seller/products", "/seller/products/new", "/admin/tubes", "/sessions"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next="), path


def test_buyer_gets_friendly_403_on_seller_and_admin_pages(client, buyer, seller, web_login, db_snapshot):
    product = make_product(seller, product_name="Cola")
    web_login(buyer)
    before = db_snapshot()
    for path in ("/seller/products", "/seller/products/new", f"/seller/products/{product.id}/edit",
                 "/seller/sales", "/admin/tubes", "/admin/users", "/admin/orders"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Not for your account" in response.get_data(as_text=True)
    response = client.post(f"/seller/products/{product.id}/delete")
    assert response.status_code == 403
    assert db_snapshot() == before


def test_friendly_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and "Nothing here" in response.get_data(as_text=True)


# ------------------------------------------------------------------ buyer machine


def test_machine_deposit_buy_and_change(client, buyer, seller, web_login, set_tubes):
    product = make_product(seller, product_name="Gum", cost=35, amount_available=5)
    set_tubes({50: 1, 5: 1})
    web_login(buyer)
    for coin in (100, 20, 5):
        body = client.post("/machine/deposit", data={"coin": coin}, follow_redirects=True).get_data(as_text=True)
    assert "Inserted 5c. Deposit: €1.25." in body and "125 cents" not in body
    response = client.post("/machine/buy", data={"product_id": product.id, "amount": 2, "expected_cost": 35},
                           follow_redirects=True)
    body = response.get_data(as_text=True)
    assert "You bought 2 × Gum for €0.70. Your change: €0.55 (50c, 5c)." in body
    assert 'id="total-spent">€0.70<' in body
    assert 'title="50c"' in body and 'title="5c"' in body and 'change-total">€0.55<' in body
    assert "alert-success" not in body  # the result card says it; no banner repeats it
    order = db.session.scalar(select(Order))
    assert (order.total_spent, order.change) == (70, [50, 5])
    assert db.session.get(User, buyer.id).deposit == 0
    assert db.session.get(Product, product.id).amount_available == 3


def test_machine_rejects_unknown_coin_and_nothing_changes(client, buyer, web_login, db_snapshot):
    web_login(buyer)
    before = db_snapshot()
    body = client.post("/machine/deposit", data={"coin": 7}, follow_redirects=True).get_data(as_text=True)
    assert "accepts only 5, 10, 20, 50 and 100 cent coins" in body
    assert db_snapshot() == before


def test_buy_without_enough_money_is_refused(client, buyer, seller, web_login, db_snapshot):
    product = make_product(seller, cost=100)
    web_login(buyer)
    client.post("/machine/deposit", data={"coin": 50})
    before = db_snapshot()
    body = client.post("/machine/buy", data={"product_id": product.id, "amount": 1},
                       follow_redirects=True).get_data(as_text=True)
    assert "Insufficient deposit: €1.00 needed, €0.50 inserted; insert €0.50 more" in body
    assert db_snapshot() == before


def test_buy_amount_error_is_shown_next_to_the_field(client, buyer, seller, web_login, db_snapshot):
    product = make_product(seller, cost=5)
    web_login(buyer)
    client.post("/machine/deposit", data={"coin": 5})
    before = db_snapshot()
    body = client.post("/machine/buy", data={"product_id": product.id, "amount": 0}).get_data(as_text=True)
    assert "Amount must be a whole number from 1 to 10000" in body and "is-invalid" in body
    assert db_snapshot() == before


def test_coin_return_gives_back_the_inserted_coins(client, buyer, web_login):
    web_login(buyer)
    client.post("/machine/deposit", data={"coin": 20})
    client.post("/machine/deposit", data={"coin": 10})
    body = client.post("/machine/reset", follow_redirects=True).get_data(as_text=True)
    assert "Coin return: €0.30 given back (20c, 10c)." in body
    assert 'title="20c"' in body and 'title="10c"' in body
    assert db.session.get(User, buyer.id).deposit == 0


def test_refund_button_only_where_allowed_and_refund_works(client, buyer, seller, web_login, set_tubes):
    refundable = make_product(seller, product_name="Apple", cost=50, refundable=True)
    final = make_product(seller, product_name="Coffee", cost=50, refundable=False)
    set_tubes({50: 2})
    deposit_coins(client, buyer, 50)
    client.post("/api/v1/buy", json={"productId": final.id}, headers=buyer.headers)
    deposit_coins(client, buyer, 50)
    client.post("/api/v1/buy", json={"productId": refundable.id}, headers=buyer.headers)
    web_login(buyer)
    body = client.get("/machine").get_data(as_text=True)
    assert body.count('>Refund</a>') == 1 and "This product is not refundable" in body
    apple = db.session.scalar(select(Order).where(Order.product_name == "Apple"))
    body = client.post(f"/orders/{apple.id}/refund", follow_redirects=True).get_data(as_text=True)
    assert f"Order #{apple.id} refunded: €0.50 paid back (50c)." in body
    db.session.expire_all()
    assert db.session.get(Order, apple.id).status == "refunded"
    again = client.post(f"/orders/{apple.id}/refund", follow_redirects=True).get_data(as_text=True)
    assert "already been refunded" in again


# ------------------------------------------------------------------ seller


def test_seller_creates_edits_restocks_and_deletes(client, seller, web_login):
    web_login(seller)
    response = client.post("/seller/products/new",
                           data={"product_name": "Tea", "cost": "0.45", "amount_available": 4, "refundable": "y"},
                           follow_redirects=True)
    assert "“Tea” is on sale at €0.45. Add a picture?" in response.get_data(as_text=True)
    product = db.session.scalar(select(Product).where(Product.product_name == "Tea"))
    assert (product.cost, product.amount_available, product.refundable, product.seller_id) == (45, 4, True, seller.id)
    body = client.post(f"/seller/products/{product.id}/edit",
                       data={"product_name": "Green tea", "cost": "€0,55", "amount_available": 4},
                       follow_redirects=True).get_data(as_text=True)
    assert "“Green tea” saved: €0.55, 4 in stock." in body
    body = client.post(f"/seller/products/{product.id}/restock", data={"units": 6},
                       follow_redirects=True).get_data(as_text=True)
    assert "Restocked “Green tea”: 10 in stock." in body
    assert "Delete “Green tea”?" in client.get(f"/seller/products/{product.id}/delete").get_data(as_text=True)
    body = client.post(f"/seller/products/{product.id}/delete", follow_redirects=True).get_data(as_text=True)
    assert "“Green tea” was taken off sale." in body
    db.session.expire_all()
    product = db.session.get(Product, product.id)
    assert (product.product_name, product.cost, product.amount_available, product.refundable, product.on_sale) == (
        "Green tea", 55, 10, False, False)


def test_product_form_errors_next_to_fields(client, seller, web_login, db_snapshot):
    make_product(seller, product_name="Cola")
    web_login(seller)
    before = db_snapshot()
    body = client.post("/seller/products/new", data={"product_name": " ", "cost": "0.07", "amount_available": -1}
                       ).get_data(as_text=True)
    assert "The price must be a multiple of 5 cents, from €0.05 to €1,000.00" in body
    assert "Stock must be a whole number from 0 to 10000" in body
    assert "This field is required" in body
    dup = client.post("/seller/products/new", data={"product_name": "COLA", "cost": "0.05", "amount_available": 1}
                      ).get_data(as_text=True)
    assert "A product with that name is already on sale" in dup and "is-invalid" in dup
    restock = client.post("/seller/products/1/restock", data={"units": 0}, follow_redirects=True).get_data(
        as_text=True)
    assert "Add at least one unit" in restock
    assert db_snapshot() == before


@pytest.mark.parametrize("name, message", [
    ("rtl \u202eloC", "Product name must not contain text-direction controls"),
    ("Co\nla", "Product name must not contain control characters such as line breaks or tabs"),
    ("\u200b", "Product name must not contain invisible characters such as zero-width spaces"),
])
def test_product_names_that_would_not_show_as_typed_are_refused_at_the_field(client, seller, web_login, db_snapshot,
                                                                            name, message):
    product = make_product(seller, product_name="Cola")
    web_login(seller)
    before = db_snapshot()
    for path in ("/seller/products/new", f"/seller/products/{product.id}/edit"):
        body = client.post(path, data={"product_name": name, "cost": "0.35", "amount_available": 1}
                           ).get_data(as_text=True)
        field = re.search(r'<input [^>]*class="form-control is-invalid"[^>]*name="product_name"[^>]*>\s*'
                          r'<div class="invalid-feedback[^"]*"[^>]*>(?:<div>)?([^<]*)</div>', body)
        assert field and field.group(1) == message, (path, body[:2000])
    assert db_snapshot() == before


def test_seller_cannot_touch_another_sellers_product(client, seller, other_seller, web_login, db_snapshot):
    product = make_product(other_seller, product_name="Theirs")
    web_login(seller)
    before = db_snapshot()
    assert client.get(f"/seller/products/{product.id}/edit").status_code == 403
    assert client.post(f"/seller/products/{product.id}/delete").status_code == 403
    body = client.post(f"/seller/products/{product.id}/restock", data={"units": 1},
                       follow_redirects=True).get_data(as_text=True)
    assert "Only the seller who created this product may change it" in body
    assert "Theirs" not in client.get("/seller/products").get_data(as_text=True)
    assert client.get("/seller/products/999/edit").status_code == 404
    assert db_snapshot() == before


def test_seller_sales_history_with_totals(client, buyer, seller, web_login, set_tubes):
    product = make_product(seller, product_name="Bar", cost=50)
    set_tubes({})
    for _ in range(2):
        deposit_coins(client, buyer, 50)
        client.post("/api/v1/buy", json={"productId": product.id}, headers=buyer.headers)
    web_login(seller)
    body = client.get("/seller/sales").get_data(as_text=True)
    assert body.count('<td data-label="Product">Bar</td>') == 2 and "€1.00" in body and "buyer" in body


# ------------------------------------------------------------------ operator


def test_admin_sets_tubes_and_sees_errors(client, admin, web_login):
    web_login(admin)
    body = client.get("/admin/tubes").get_data(as_text=True)
    assert body.count('class="fs-4 fw-bold mt-2 tube-count">20<') == 5
    data = {"c5": 1, "c10": 2, "c20": 3, "c50": 4, "c100": 5}
    body = client.post("/admin/tubes", data=data, follow_redirects=True).get_data(as_text=True)
    assert "The coin tubes were updated." in body and "€7.85" in body
    bad = client.post("/admin/tubes", data={**data, "c50": 2_000_000}).get_data(as_text=True)
    assert "Counts must be between 0 and 1000000" in bad and "is-invalid" in bad


def test_admin_lists_and_deletes_users_and_sees_all_orders(client, admin, buyer, seller, web_login):
    web_login(admin)
    body = client.get("/admin/users").get_data(as_text=True)
    assert "buyer" in body and "seller" in body and "operator" in body
    assert "Delete user buyer?" in client.get(f"/admin/users/{buyer.id}/delete").get_data(as_text=True)
    body = client.post(f"/admin/users/{buyer.id}/delete", follow_redirects=True).get_data(as_text=True)
    assert "User buyer deleted." in body
    assert db.session.get(User, buyer.id) is None
    last = client.post(f"/admin/users/{admin.id}/delete", follow_redirects=True).get_data(as_text=True)
    assert "The last operator account cannot be deleted" in last
    assert client.get("/admin/orders").status_code == 200
