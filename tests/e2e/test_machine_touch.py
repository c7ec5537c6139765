"""The machine as a touch screen and a session that ends mid-task, in a real browser at 1280x800 and 390x844:
what each tile's button says, the coin bar pinned on a phone, the exact-change warning above the coins, refusals
at the button, visible keyboard focus, refunds that ask first and stay on their page, and work kept across a
session's end."""

import os
import re

import pytest
from playwright.sync_api import expect

from app.models import Order, Product, User
from app.services import products, sessions, vending
from tests.e2e.conftest import CHROMIUM, DESKTOP, PHONE, check_page
from tests.e2e.helpers import PASSWORD, account, fresh, login, stock_the_machine

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install chromium"),
]
SIZES = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]
SIZES_AND_MODES = [pytest.param(DESKTOP, "light", id="desktop-light"), pytest.param(PHONE, "light", id="phone-light"),
                   pytest.param(DESKTOP, "dark", id="desktop-dark"), pytest.param(PHONE, "dark", id="phone-dark")]
SIX = {"Gummy bears": (35, 10), "Crisps": (65, 8), "Water": (25, 30), "Cola": (150, 5), "Coffee": (120, 12),
       "Tea": (70, 0)}
FULL_TUBES = {5: 10, 10: 10, 20: 10, 50: 10}
ONE_ALERT = "#main > .alert"

# The focused element's outline, and its contrast with the nearest opaque background around it (WCAG's formula).
FOCUS_RING = """(el) => {
    const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    let around = el.parentElement;
    while (around && /rgba\\(.*, 0\\)|transparent/.test(getComputedStyle(around).backgroundColor)) {
        around = around.parentElement;
    }
    const style = getComputedStyle(el);
    const ring = luminance(rgb(style.outlineColor));
    const page = luminance(rgb(around ? getComputedStyle(around).backgroundColor : 'rgb(255, 255, 255)'));
    return {style: style.outlineStyle, width: parseFloat(style.outlineWidth),
            contrast: (Math.max(ring, page) + 0.05) / (Math.min(ring, page) + 0.05)};
}"""


def in_view(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]


def not_covered(page, selector: str) -> bool:
    """A tap at the element's centre reaches it (no bar lies over it); a disabled button is reached through the
    element around it, which Chromium hit-tests instead."""
    return page.eval_on_selector(selector, """(el) => {
        const box = el.getBoundingClientRect();
        const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
        return Boolean(hit) && (el.contains(hit) || hit.contains(el));
    }""")


def end_every_session(username: str) -> None:
    """The account's sessions end, as "log out everywhere" on another device does."""
    sessions.end_all_sessions(fresh(User, username=username).id)


# ---------------------------------------------------------------- a session that ends mid-task


@pytest.mark.parametrize("viewport", SIZES)
def test_a_coin_after_the_session_ended_says_so_in_place_and_the_login_comes_back(app, new_page, viewport):
    sally = account("sally", "seller")
    stock_the_machine(sally, {"Gum": (35, 5)}, tubes=FULL_TUBES)
    account("bob", "buyer")
    page = new_page(**viewport)
    login(page, "bob", expect_path="/machine")
    page.goto("/machine?q=gu")
    end_every_session("bob")
    page.evaluate("window.sameDocument = true")
    page.locator("#coin-50").click()
    said = page.locator("#machine-status")
    expect(said).to_have_text("Your session ended; that coin was not inserted. Log in again.")
    assert page.evaluate("window.sameDocument") is True  # in place: the page did not go anywhere
    assert in_view(page, "#log-in-again")
    check_page(page, "machine, session ended")
    with page.expect_navigation():
        page.get_by_role("link", name="Log in again").click()
    expect(page.locator(ONE_ALERT)).to_have_count(0)  # the machine page has said it
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/machine\?q=gu$"))  # the page the buyer was on, not /machine/deposit
    expect(page.locator("#deposit")).to_have_text("€0.00")
    assert "did not work" not in page.content()
    assert fresh(User, username="bob").deposit == 0


@pytest.mark.parametrize("viewport", SIZES)
def test_a_sellers_half_typed_product_survives_the_end_of_the_session(app, new_page, viewport):
    account("sally", "seller")
    page = new_page(**viewport)
    login(page, "sally", expect_path="/seller/products")
    page.goto("/seller/products/new")
    page.get_by_label("Name").fill("Rooibos tea")
    page.get_by_label("Price in euros").fill("0.45")
    page.get_by_label("Units in stock").fill("7")
    page.get_by_label("Buyers may refund it").check()
    end_every_session("sally")
    with page.expect_navigation(url=re.compile(r"/login\?next=%2Fseller%2Fproducts%2Fnew$")):
        page.get_by_role("button", name="Save").click()
    alerts = page.locator(ONE_ALERT)
    expect(alerts).to_have_count(1)  # not the session's end and "Please log in" both
    expect(alerts).to_have_text("Your session has expired or was ended; please log in again")
    check_page(page, "login after the session ended")
    page.get_by_label("Username").fill("sally")
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation(url=re.compile(r"/seller/products/new$")):
        page.get_by_role("button", name="Log in").click()
    expect(page.get_by_label("Name")).to_have_value("Rooibos tea")
    expect(page.get_by_label("Price in euros")).to_have_value("0.45")
    expect(page.get_by_label("Units in stock")).to_have_value("7")
    expect(page.get_by_label("Buyers may refund it")).to_be_checked()
    expect(page.locator("#main")).to_contain_text("what you typed is back")
    assert fresh(Product, product_name="Rooibos tea") is None
    with page.expect_navigation(url="**/image"):
        page.get_by_role("button", name="Save").click()
    saved = fresh(Product, product_name="Rooibos tea")
    assert (saved.cost, saved.amount_available, saved.refundable) == (45, 7, True)


# ---------------------------------------------------------------- the machine as a touch screen


@pytest.mark.parametrize(("viewport", "scheme"), SIZES_AND_MODES)
def test_the_coins_stay_in_view_and_the_products_take_two_columns_on_a_phone(app, new_page, viewport, scheme):
    sally = account("sally", "seller")
    ids = stock_the_machine(sally, SIX, tubes=FULL_TUBES)
    account("bob", "buyer")
    page = new_page(**viewport, color_scheme=scheme)
    login(page, "bob", expect_path="/machine")
    page.locator("#coin-50").click()
    expect(page.locator("#deposit")).to_have_text("€0.50")
    tiles = page.locator("#tiles > .col")
    columns = {round(tiles.nth(n).bounding_box()["x"]) for n in range(6)}
    grid = page.locator("#tiles").bounding_box()
    if viewport == PHONE:
        assert len(columns) == 2, columns
        assert grid["height"] < 1100, grid  # six products, about 3,100 px one to a row with large art
    else:
        assert len(columns) == 3, columns
    last = f"#buy-{ids['Tea']}"
    page.locator(last).scroll_into_view_if_needed()
    for part in ("#deposit", "#coin-buttons", "#coin-return", "#machine-status"):
        assert in_view(page, part), part
    assert not_covered(page, last) and not_covered(page, "#coin-50")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")  # the very end of the page
    assert in_view(page, "#coin-buttons") and not_covered(page, last)
    page.locator("#coin-20").click()  # and the pinned coins work where the buyer is
    expect(page.locator("#deposit")).to_have_text("€0.70")
    expect(page.locator(f"#buy-{ids['Tea']}")).to_have_text("Sold out")
    check_page(page, f"machine scrolled to the end ({scheme})")


@pytest.mark.parametrize("viewport", SIZES)
def test_each_tiles_button_says_what_will_happen(app, new_page, viewport):
    sally = account("sally", "seller")
    ids = stock_the_machine(sally, {"Gum": (35, 5), "Crisps": (50, 5), "Cola": (120, 5), "Tea": (20, 0)},
                            tubes={10: 5, 20: 5})
    account("bob", "buyer")
    page = new_page(**viewport)
    login(page, "bob", expect_path="/machine")
    page.locator("#coin-50").click()
    expect(page.locator("#deposit")).to_have_text("€0.50")
    expected = {"Gum": "Exact change only: insert exactly €0.35", "Crisps": "Buy", "Cola": "Insert €0.70 more",
                "Tea": "Sold out"}
    for name, text in expected.items():
        button = page.locator(f"#buy-{ids[name]}")
        expect(button).to_have_text(text)
        if name == "Crisps":
            expect(button).to_be_enabled()
        else:
            expect(button).to_be_disabled()
    green = page.eval_on_selector_all(".tile button[type=submit]", "(buttons) => buttons.map((b) => "
                                      "[b.textContent.trim(), getComputedStyle(b).backgroundColor])")
    assert [text for text, colour in green if colour == "rgb(25, 135, 84)"] == ["Buy"]  # Bootstrap's success green
    check_page(page, "tiles in every state")
    page.locator("#coin-return").click()  # exact money for the gum: 20 + 10 + 5
    for coin in ("20", "10", "5"):
        page.locator(f"#coin-{coin}").click()
    expect(page.locator(f"#buy-{ids['Gum']}")).to_have_text("Buy")
    page.locator(f"#buy-{ids['Gum']}").click()
    expect(page.locator("#result")).to_contain_text("Enjoy your Gum!")


@pytest.mark.parametrize(("viewport", "scheme"), SIZES_AND_MODES)
def test_the_exact_change_warning_sits_above_the_coins(app, new_page, viewport, scheme):
    sally = account("sally", "seller")
    stock_the_machine(sally, SIX, tubes={10: 4, 20: 4, 50: 4})
    account("bob", "buyer")
    page = new_page(**viewport, color_scheme=scheme)
    login(page, "bob", expect_path="/machine")
    warning = page.locator("#exact-change")
    assert warning.bounding_box()["y"] + warning.bounding_box()["height"] <= \
        page.locator("#coin-buttons").bounding_box()["y"]
    assert in_view(page, "#exact-change") and in_view(page, "#coin-buttons")  # seen before any coin goes in
    expect(warning).to_contain_text("Exact change only. The machine is short of coins for change: insert exactly "
                                    "the price.")
    check_page(page, f"exact change only ({scheme})")


@pytest.mark.parametrize("viewport", SIZES)
def test_a_refused_buy_says_why_at_the_button_and_leaves_a_valid_quantity_alone(app, new_page, viewport):
    sally = account("sally", "seller")
    ids = stock_the_machine(sally, {"Gum": (35, 5)}, tubes=FULL_TUBES)
    account("bob", "buyer")
    page = new_page(**viewport)
    login(page, "bob", expect_path="/machine")
    page.locator("#coin-100").click()
    expect(page.locator("#deposit")).to_have_text("€1.00")
    products.update_product(sally, ids["Gum"], {"cost": 40})  # the seller changes the price meanwhile
    page.locator(f"#amount-{ids['Gum']}").fill("2")
    page.locator(f"#buy-{ids['Gum']}").click()
    error = page.locator(f"#buy-error-{ids['Gum']}")
    expect(error).to_have_text("The price changed: Gum now costs €0.40; nothing was bought")
    amount = page.locator(f"#amount-{ids['Gum']}")
    expect(amount).not_to_have_class(re.compile(r"is-invalid"))
    expect(amount).not_to_have_attribute("aria-invalid", "true")
    expect(amount).to_have_value("2")
    expect(page.locator(f"#buy-{ids['Gum']}")).to_have_attribute("aria-describedby", f"buy-error-{ids['Gum']}")
    check_page(page, "a refused buy")


@pytest.mark.parametrize(("viewport", "scheme"), SIZES_AND_MODES)
def test_keyboard_focus_on_every_button_is_a_clear_ring(app, new_page, viewport, scheme):
    sally = account("sally", "seller")
    ids = stock_the_machine(sally, {"Gum": (35, 5)}, tubes=FULL_TUBES)
    account("bob", "buyer")
    page = new_page(**viewport, color_scheme=scheme)
    login(page, "bob", expect_path="/machine")
    page.locator("#coin-50").click()
    expect(page.locator(f"#buy-{ids['Gum']}")).to_have_text("Buy")
    rings = {}
    for before, button in ((f"#amount-{ids['Gum']}", f"#buy-{ids['Gum']}"), ("#tile-search", "#tile-search + .btn")):
        page.locator(before).focus()
        page.keyboard.press("Tab")
        assert page.eval_on_selector(button, "(el) => el === document.activeElement"), button
        rings[button] = page.eval_on_selector(button, FOCUS_RING)
    for button, ring in rings.items():
        assert ring["style"] == "solid" and ring["width"] >= 2, (button, ring)
        assert ring["contrast"] >= 3, (button, ring)  # against the card or page around it
    page.locator("#coin-20").focus()
    page.keyboard.press("Shift+Tab")
    coin = page.eval_on_selector("#coin-10", FOCUS_RING)
    assert coin["style"] == "solid" and coin["width"] >= 2


@pytest.mark.parametrize("viewport", SIZES)
def test_the_five_coins_share_one_row(app, new_page, viewport):
    account("bob", "buyer")
    page = new_page(**viewport)
    login(page, "bob", expect_path="/machine")
    tops = {round(page.locator(f"#coin-{coin}").bounding_box()["y"]) for coin in (5, 10, 20, 50, 100)}
    assert len(tops) == 1, tops  # no lone €1 on a second row


# ---------------------------------------------------------------- refunds the buyer can find


@pytest.mark.parametrize(("viewport", "scheme"), SIZES_AND_MODES)
def test_a_refund_from_the_order_list_asks_first_and_stays_on_the_list(app, new_page, viewport, scheme):
    sally = account("sally", "seller")
    ids = stock_the_machine(sally, {"Gummy bears": (35, 10)}, refundable=("Gummy bears",), tubes=FULL_TUBES)
    bob = account("bob", "buyer")
    vending.deposit(bob, 50, max_deposit=10_000)
    order = vending.buy(bob, ids["Gummy bears"], 1, initial_float=20).order
    page = new_page(**viewport, color_scheme=scheme)
    login(page, "bob")
    page.goto("/orders?status=paid")
    row = page.locator("#buyer-orders tbody tr").first
    expect(row).to_contain_text("Refundable until")
    check_page(page, f"order list with a refund ({scheme})")
    with page.expect_navigation():
        row.get_by_role("link", name="Refund").click()
    expect(page.locator("h1")).to_have_text(f"Refund order #{order.id}?")
    assert fresh(Order, id=order.id).status == "paid"  # nothing happens before the confirmation
    check_page(page, f"refund confirmation ({scheme})")
    with page.expect_navigation():
        page.get_by_role("button", name="Refund €0.35").click()
    expect(page).to_have_url(re.compile(r"/orders\?status=paid$"))  # the list, as it was
    expect(page.locator(".alert-success")).to_contain_text(f"Order #{order.id} refunded: €0.35 paid back")
    assert fresh(Order, id=order.id).status == "refunded"
    assert fresh(Product, id=ids["Gummy bears"]).amount_available == 10
