"""Every page of the app, at desktop and phone size, in light and dark mode: axe-core finds no serious or
critical violation and no action sticks out of the screen (Swagger UI excepted: not ours)."""

import os

import pytest
from playwright.sync_api import expect

from app.models import Order, User
from app.services import vending
from tests.e2e.conftest import CHROMIUM, DESKTOP, PHONE, check_page
from tests.e2e.helpers import account, fresh, login, stock_the_machine

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install chromium"),
]
MODES = [("desktop", DESKTOP, "light"), ("phone", PHONE, "light"), ("desktop", DESKTOP, "dark")]


@pytest.fixture
def shop(app):
    sally = account("sally", "seller")
    ids = stock_the_machine(sally, {"Gummy bears": (35, 10), "Cola": (150, 2), "Water": (25, 0)},
                            refundable=("Gummy bears",), tubes={5: 4, 10: 4, 20: 4, 50: 4})
    bob = account("bob", "buyer")
    account("operator", "admin")
    vending.deposit(bob, 100, max_deposit=10_000)
    order = vending.buy(bob, ids["Gummy bears"], 1, initial_float=20).order
    vending.deposit(bob, 50, max_deposit=10_000)
    return {"product": ids["Gummy bears"], "order": order.id, "buyer": bob.id}


def pages_of(shop: dict) -> dict[str | None, list[str]]:
    product, order = shop["product"], shop["order"]
    return {
        None: ["/", "/?page=999", "/login", "/register", "/no-such-page"],
        "bob": ["/machine", "/orders", f"/orders/{order}", f"/orders/{order}/refund", "/sessions", "/sessions/end-all",
                "/admin/tubes"],
        "sally": ["/seller/products", "/seller/products/new", f"/seller/products/{product}/edit",
                  f"/seller/products/{product}/image", f"/seller/products/{product}/delete", "/seller/sales",
                  f"/orders/{order}"],
        "operator": ["/admin/tubes", "/admin/orders", "/admin/users", f"/admin/users/{shop['buyer']}/delete",
                     f"/orders/{order}"],
    }


@pytest.mark.parametrize(("size", "viewport", "scheme"), MODES, ids=[f"{s}-{c}" for s, _, c in MODES])
def test_every_page_passes_axe_and_fits(app, shop, new_page, size, viewport, scheme):
    for who, paths in pages_of(shop).items():
        page = new_page(**viewport, color_scheme=scheme)
        if who:
            login(page, who)
        for path in paths:
            page.goto(path)
            assert page.evaluate("document.documentElement.dataset.bsTheme") == scheme
            check_page(page, f"{path} as {who or 'a visitor'} ({size}, {scheme})")


def test_dark_mode_follows_the_system_and_the_toggle_is_remembered(app, shop, new_page, screenshot):
    page = new_page(color_scheme="dark")
    login(page, "bob", expect_path="/machine")
    toggle = page.get_by_role("switch", name="Dark mode")
    expect(toggle).to_be_checked()
    page.locator("#coin-20").click()
    expect(page.locator("#deposit")).to_have_text("€0.70")
    screenshot(page, "dark-mode")
    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "light")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "light")  # remembered
    expect(page.get_by_role("switch", name="Dark mode")).not_to_be_checked()
    check_page(page, "machine, light by choice")


def test_a_receipt_prints_without_the_page_around_it(app, shop, new_page):
    page = new_page()
    login(page, "bob")
    page.goto(f"/orders/{shop['order']}")
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator("nav.navbar")).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    expect(page.locator("#receipt")).to_contain_text("Gummy bears")
    assert fresh(Order, id=shop["order"]).buyer_id == fresh(User, username="bob").id
