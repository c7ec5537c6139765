"""The whole story in a real browser: seller, buyer, operator, sessions, roles and CSRF."""

import os
import re

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import AuthSession, Order, Product, User
from app.services import users
from tests.e2e.conftest import CHROMIUM

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install chromium"),
]
PASSWORD = "correct-horse-1"


def register(page, username: str, role: str) -> None:
    page.goto("/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_label("seller" if role == "seller" else "buyer", exact=False).check()
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".alert-success")).to_contain_text(f"Welcome, {username}!")


def login(page, username: str):
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def coins_shown(page, selector: str) -> list[str]:
    return page.locator(f"{selector} .coin").all_inner_texts()


def fresh(model, **where):
    db.session.rollback()
    return db.session.scalar(select(model).filter_by(**where))


def test_seller_buyer_operator_story(app, new_page, screenshot, tmp_path):
    users.register("operator", PASSWORD, "admin", allow_admin=True)

    # The operator loads the tubes so that they hold a 50 and a 5 for change.
    operator = new_page()
    login(operator, "operator")
    expect(operator).to_have_url(re.compile(r"/admin/tubes$"))
    operator.get_by_text("Set exact counts").click()
    for coin, count in {5: 2, 10: 0, 20: 0, 50: 2, 100: 0}.items():
        operator.locator(f"#c{coin}").fill(str(count))
    operator.get_by_role("button", name="Set tubes").click()
    expect(operator.locator(".alert-success")).to_contain_text("The coin tubes were updated.")
    expect(operator.locator("#tubes-total")).to_have_text("€1.10")
    screenshot(operator, "admin-tubes")

    # A seller registers, creates a refundable 35-cent product and gives it a picture.
    seller = new_page()
    register(seller, "sally", "seller")
    seller.get_by_role("link", name="+ New product").click()
    seller.get_by_label("Name").fill("Gummy bears")
    seller.get_by_label("Price in euros").fill("0.35")
    seller.get_by_label("Units in stock").fill("10")
    seller.get_by_label("Buyers may refund it").check()
    seller.get_by_role("button", name="Save").click()
    expect(seller.locator(".alert-success")).to_contain_text("“Gummy bears” is on sale at €0.35.")
    picture = tmp_path / "bears.png"
    image = Image.new("RGB", (320, 240), (255, 170, 40))
    for x in range(60, 260):
        for y in range(70, 170):
            if (x - 160) ** 2 / 100**2 + (y - 120) ** 2 / 50**2 <= 1:
                image.putpixel((x, y), (200, 30, 60))
    image.save(picture)
    seller.get_by_label("Picture").set_input_files(str(picture))
    seller.get_by_role("button", name="Upload").click()
    expect(seller.locator(".alert-success")).to_contain_text("New picture saved for “Gummy bears”.")
    seller.get_by_role("link", name="+ New product").click()
    seller.get_by_label("Name").fill("Sparkling water")
    seller.get_by_label("Price in euros").fill("1.20")
    seller.get_by_label("Units in stock").fill("0")
    seller.get_by_role("button", name="Save").click()
    seller.goto("/seller/products")
    expect(seller.locator("#products")).to_contain_text("Gummy bears")
    screenshot(seller, "seller-products")
    bears = fresh(Product, product_name="Gummy bears")
    assert (bears.cost, bears.amount_available, bears.refundable, bears.image_mime) == (35, 10, True, "image/png")

    # The catalogue is public: picture, price, stock, sold-out marked.
    visitor = new_page()
    visitor.goto("/")
    card = visitor.locator(".product-card", has_text="Gummy bears")
    expect(card.locator(".price")).to_have_text("€0.35")
    expect(card.locator("img")).to_have_attribute("src", re.compile(r"/api/v1/products/\d+/image\?v=1"))
    assert card.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    expect(visitor.locator(".product-card", has_text="Sparkling water")).to_contain_text("Sold out")
    screenshot(visitor, "catalogue")

    # A buyer registers, inserts 100 + 20 + 5 and buys two.
    buyer = new_page()
    register(buyer, "bob", "buyer")
    expect(buyer).to_have_url(re.compile(r"/machine$"))
    for coin in (100, 20, 5):
        buyer.get_by_role("button", name=f"Insert {coin} cents").click()
    expect(buyer.locator("#deposit")).to_have_text("€1.25")
    buyer.locator(f"#amount-{bears.id}").fill("2")
    buyer.locator(f"#buy-{bears.id}").click()
    expect(buyer.locator("#total-spent")).to_have_text("€0.70")
    assert coins_shown(buyer, "#change") == ["50¢", "5¢"]
    expect(buyer.locator("#change")).to_contain_text("€0.55")
    expect(buyer.locator("#deposit")).to_have_text("€0.00")
    order = fresh(Order, buyer_username="bob")
    assert (order.total_spent, order.change, order.amount) == (70, [50, 5], 2)

    # More coins, then the coin return gives exactly those back.
    buyer.get_by_role("button", name="Insert 50 cents").click()
    buyer.get_by_role("button", name="Insert 10 cents").click()
    expect(buyer.locator("#deposit")).to_have_text("€0.60")
    buyer.get_by_role("button", name="↩ Coin return").click()
    expect(buyer.locator("#machine-status")).to_contain_text("Coin return: €0.60 given back (50¢, 10¢).")
    assert coins_shown(buyer, "#change") == ["50¢", "10¢"]
    expect(buyer.locator("#deposit")).to_have_text("€0.00")

    # Refund the refundable order.
    buyer.locator("#orders").get_by_role("button", name="Refund").click()
    expect(buyer.locator("#machine-status")).to_contain_text(f"Order #{order.id} refunded: €0.70 paid back")
    expect(buyer.locator("#orders")).to_contain_text("refunded")
    assert fresh(Order, id=order.id).status == "refunded"
    assert fresh(Product, id=bears.id).amount_available == 10
    screenshot(buyer, "machine")

    phone = new_page(390, 844)
    login(phone, "bob")
    phone.goto("/machine")
    expect(phone.locator("#coin-buttons button")).to_have_count(5)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "machine-phone")

    seller.goto("/seller/sales")
    expect(seller.locator("#sales")).to_contain_text("Gummy bears")


def test_second_login_warns_and_log_out_everywhere_signs_out_the_first(app, new_page, screenshot):
    users.register("carol", PASSWORD, "buyer")
    first = new_page()
    login(first, "carol")
    expect(first).to_have_url(re.compile(r"/machine$"))
    expect(first.locator("#active-session")).to_have_count(0)

    second = new_page()
    second.goto("/login")
    screenshot(second, "login")
    login(second, "carol")
    warning = second.locator("#active-session")
    expect(warning).to_contain_text("There is already an active session using your account")
    expect(warning.get_by_role("button", name="End all other sessions")).to_be_visible()
    second.goto("/sessions")
    expect(second.locator("#sessions tbody tr")).to_have_count(2)
    screenshot(second, "sessions")
    second.get_by_role("button", name="Log out everywhere").click()
    expect(second).to_have_url(re.compile(r"/login$"))
    expect(second.locator(".alert-info")).to_contain_text("Logged out everywhere: 2 sessions ended")
    db.session.rollback()
    user_id = db.session.scalar(select(User.id).where(User.username == "carol"))
    assert db.session.scalars(select(AuthSession).where(AuthSession.user_id == user_id)).all() == []

    first.goto("/machine")
    expect(first).to_have_url(re.compile(r"/login\?next=%2Fmachine$"))
    expect(first.locator("body")).to_contain_text("please log in again")


def test_end_other_sessions_from_the_warning(app, new_page):
    users.register("dave", PASSWORD, "buyer")
    first, second = new_page(), new_page()
    login(first, "dave")
    login(second, "dave")
    second.locator("#active-session").get_by_role("button", name="End all other sessions").click()
    expect(second.locator(".alert-success")).to_contain_text("Ended 1 other session.")
    first.goto("/machine")
    expect(first).to_have_url(re.compile(r"/login"))
    second.goto("/machine")
    expect(second).to_have_url(re.compile(r"/machine$"))


def test_buyer_cannot_reach_seller_pages_and_forms_need_csrf(app, new_page):
    users.register("erin", PASSWORD, "buyer")
    page = new_page()
    login(page, "erin")
    for path in ("/seller/products", "/seller/products/new", "/admin/tubes"):
        response = page.goto(path)
        assert response.status == 403, path
        expect(page.locator("h1")).to_have_text("Not for your account")

    page.goto("/machine")
    page.eval_on_selector_all("input[name=csrf_token]", "inputs => inputs.forEach(i => i.remove())")
    with page.expect_response(lambda r: r.url.endswith("/machine/deposit")) as answer:
        page.get_by_role("button", name="Insert 100 cents").click()
    assert answer.value.status == 400
    expect(page.locator("#machine-status")).to_contain_text("That did not work (error 400)")
    assert fresh(User, username="erin").deposit == 0

    anonymous = new_page()
    anonymous.goto("/seller/products")
    expect(anonymous).to_have_url(re.compile(r"/login\?next=%2Fseller%2Fproducts$"))

