"""The buyer's machine in a real browser: in place, by keyboard, on a desktop and a phone, and without JavaScript."""

import os

import pytest
from playwright.sync_api import expect

from app.models import Order, Product, User
from app.services import products
from tests.e2e.conftest import CHROMIUM, PHONE, check_page
from tests.e2e.helpers import account, coins_shown, fresh, login, stock_the_machine

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install chromium"),
]


def test_the_machine_updates_in_place_keeps_the_focus_and_announces(app, new_page, screenshot):
    sally = account("sally", "seller")
    ids = stock_the_machine(sally, {"Gummy bears": (35, 10), "Cola": (150, 5)}, refundable=("Gummy bears",),
                            tubes={10: 4, 20: 4, 50: 4})
    account("bob", "buyer")
    page = new_page()
    login(page, "bob", expect_path="/machine")
    expect(page.locator("#exact-change")).to_contain_text("Exact change only.")
    expect(page.locator("#exact-change")).to_contain_text("short of coins for change: insert exactly the price")
    check_page(page, "machine, exact change only")
    stock_the_machine(sally, {}, tubes={5: 4, 10: 4, 20: 4, 50: 4})
    page.reload()
    expect(page.locator("#exact-change")).to_have_count(0)

    page.evaluate("window.sameDocument = true")  # gone if anything below reloads the page
    page.locator("#coin-100").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#deposit")).to_have_text("€1.00")
    expect(page.locator("#machine-status")).to_have_text("Inserted €1. Deposit: €1.00.")
    assert page.evaluate("document.activeElement.id") == "coin-100"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"  # the focus ring
    for coin in ("20", "5"):  # two Shift+Tabs back each: 50c then 20c, 10c then 5c
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Shift+Tab")
        assert page.evaluate("document.activeElement.id") == f"coin-{coin}"
        page.keyboard.press("Enter")
        expect(page.locator("#machine-status")).to_contain_text(f"Inserted {coin}c.")
    expect(page.locator("#deposit")).to_have_text("€1.25")
    assert coins_shown(page, "#escrow") == ["€1", "20c", "5c"]
    assert page.evaluate("document.activeElement.id") == "coin-5"

    cola = page.locator(f"#buy-{ids['Cola']}")
    expect(cola).to_have_text("Insert €0.25 more")
    expect(cola).to_be_disabled()
    assert "tile-short" in page.locator(f"#tile-{ids['Cola']}").get_attribute("class")

    bears = ids["Gummy bears"]
    products.update_product(sally, bears, {"cost": 40})  # the seller changes the price meanwhile
    page.locator(f"#amount-{bears}").fill("2")
    page.locator(f"#buy-{bears}").click()
    expect(page.locator(f"#buy-error-{bears}")).to_contain_text(
        "The price changed: Gummy bears now costs €0.40; nothing was bought")
    expect(page.locator(f"#tile-{bears} .price")).to_have_text("€0.40")
    assert fresh(User, username="bob").deposit == 125
    check_page(page, "machine, a refused buy")

    page.locator(f"#amount-{bears}").fill("2")
    page.locator(f"#buy-{bears}").click()
    expect(page.locator("#total-spent")).to_have_text("€0.80")
    assert coins_shown(page, "#change") == ["20c", "20c", "5c"]
    expect(page.locator("#machine-status")).to_have_text(
        "You bought 2 × Gummy bears for €0.80. Your change: €0.45 (20c, 20c, 5c).")
    expect(page.locator("#deposit")).to_have_text("€0.00")
    # the Buy button pressed now says "Insert €0.40 more" and cannot be pressed: the focus is on the status line
    expect(page.locator(f"#buy-{bears}")).to_be_disabled()
    assert page.evaluate("document.activeElement.id") == "machine-status"
    order = fresh(Order, buyer_username="bob")
    assert (order.total_spent, order.change, order.amount, order.unit_cost) == (80, [20, 20, 5], 2, 40)
    screenshot(page, "machine")

    page.locator("#coin-50").click()
    page.locator("#coin-10").click()
    expect(page.locator("#deposit")).to_have_text("€0.60")
    page.locator("#coin-return").click()
    expect(page.locator("#machine-status")).to_contain_text("Coin return: €0.60 given back (50c, 10c).")
    assert coins_shown(page, "#change") == ["50c", "10c"]

    expect(page.locator("#orders")).to_contain_text("Refundable until")
    page.locator(f"#refund-{order.id}").click()  # asks first, in place
    confirm = page.locator(f"#confirm-refund-{order.id}-yes")
    expect(confirm).to_be_focused()
    page.get_by_role("button", name="Keep it").click()
    expect(page.locator(f"#refund-{order.id}")).to_be_focused()
    assert fresh(Order, id=order.id).status == "paid"
    page.locator(f"#refund-{order.id}").click()
    confirm.click()
    expect(page.locator("#machine-status")).to_contain_text(f"Order #{order.id} refunded: €0.80 paid back")
    expect(page.locator("#orders")).to_contain_text("refunded")
    assert fresh(Order, id=order.id).status == "refunded"
    assert fresh(Product, id=bears).amount_available == 10
    assert page.evaluate("window.sameDocument") is True
    check_page(page, "machine after a refund")


def test_on_a_phone_the_change_is_in_view_and_every_action_fits(app, new_page, screenshot):
    sally = account("sally", "seller")
    ids = stock_the_machine(sally, {"Gummy bears": (35, 10), "Crisps": (65, 8), "Water": (25, 30), "Cola": (150, 5),
                                    "Coffee": (120, 12)}, tubes={5: 4, 10: 4, 20: 4, 50: 4})
    account("bob", "buyer")
    page = new_page(**PHONE)
    login(page, "bob", expect_path="/machine")
    check_page(page, "machine on a phone")
    page.locator("#coin-100").click()
    expect(page.locator("#deposit")).to_have_text("€1.00")
    buy = page.locator(f"#buy-{ids['Cola']}")  # the last tile: far down the page
    buy.scroll_into_view_if_needed()
    page.locator(f"#buy-{ids['Gummy bears']}").click()
    result = page.locator("#result")
    expect(result).to_contain_text("Enjoy your Gummy bears!")
    box = result.bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"], box  # in view, wherever the page is
    assert coins_shown(page, "#change") == ["50c", "10c", "5c"]
    check_page(page, "machine on a phone with the change")
    page.evaluate("window.scrollTo(0, 0)")
    expect(result).to_be_in_viewport()
    screenshot(page, "machine-phone", full_page=False)
    page.get_by_role("button", name="Close").click()
    expect(result).to_have_count(0)


def test_without_javascript_the_forms_post_and_redirect(app, new_page):
    sally = account("sally", "seller")
    ids = stock_the_machine(sally, {"Gum": (35, 3)}, tubes={5: 4, 10: 4, 20: 4, 50: 4})
    account("bob", "buyer")
    page = new_page(java_script_enabled=False)
    login(page, "bob", expect_path="/machine")
    with page.expect_navigation():
        page.locator("#coin-50").click()
    expect(page.locator("#machine-status")).to_have_text("Inserted 50c. Deposit: €0.50.")
    with page.expect_navigation():
        page.locator(f"#buy-{ids['Gum']}").click()
    expect(page.locator("#total-spent")).to_have_text("€0.35")
    assert coins_shown(page, "#change") == ["10c", "5c"]
    expect(page.locator("[data-dismiss-result]")).to_be_hidden()
    assert fresh(Order, buyer_username="bob").total_spent == 35


def test_forms_need_the_csrf_token_and_nothing_changes_without_it(app, new_page):
    account("erin", "buyer")
    page = new_page()
    login(page, "erin", expect_path="/machine")
    page.eval_on_selector_all("input[name=csrf_token]", "inputs => inputs.forEach(i => i.remove())")
    with page.expect_response(lambda r: r.url.endswith("/machine/deposit")) as answer:
        page.locator("#coin-100").click()
    assert answer.value.status == 400
    expect(page.locator("#machine-status")).to_contain_text("That did not work (error 400)")
    assert fresh(User, username="erin").deposit == 0
