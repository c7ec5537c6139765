"""The pages as a reader in Germany or in England finds them, at 1280x800 and 390x844, light and dark: money and
times in their locale and zone, registration's rules and live feedback, collecting coins and logging out everywhere
with a confirmation, sessions told apart and ended when idle, and the layout fixes (buttons side by side the same
height, help texts on a line of their own, phone cards that keep a name next to its badge, the theme switch)."""

import os
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from app.extensions import db
from app.models import AuthSession, CoinTube, Order, User
from app.services import sessions, vending
from tests.e2e.conftest import CHROMIUM, DESKTOP, PHONE, check_page
from tests.e2e.helpers import account, fresh, login, stock_the_machine

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install chromium"),
]
SIZES = {"desktop": DESKTOP, "phone": PHONE}
MODES = [(size, scheme) for size in SIZES for scheme in ("light", "dark")]
ENGLAND = {"locale": "en-GB", "timezone_id": "UTC"}
GERMANY = {"locale": "de-DE", "timezone_id": "Europe/Berlin"}
BOUGHT_AT = datetime(2026, 7, 1, 12, 5, 9, tzinfo=UTC)  # 14:05:09 in Berlin (summer time)


@pytest.fixture
def shop(app):
    """Sally sells cola (35 cents, refundable); Bob bought two on 1 July 2026 at 12:05:09 UTC."""
    sally = account("sally", "seller")
    ids = stock_the_machine(sally, {"Cola": (35, 10)}, refundable=("Cola",),
                            tubes={5: 30, 10: 30, 20: 30, 50: 30, 100: 30})
    bob = account("bob", "buyer")
    account("operator", "admin")
    vending.deposit(bob, 100, max_deposit=10_000)
    order = vending.buy(bob, ids["Cola"], 2, initial_float=20).order
    db.session.execute(update(Order).where(Order.id == order.id).values(created_at=BOUGHT_AT))
    db.session.commit()
    return {"cola": ids["Cola"], "order": order.id, "bob": bob.id}


def box(locator) -> dict:
    return locator.bounding_box()


# ------------------------------------------------------------------ money and times in the reader's locale and zone


@pytest.mark.parametrize("size", SIZES)
def test_a_receipt_in_germany_and_in_england(app, shop, new_page, size):
    german = new_page(**SIZES[size], **GERMANY)
    login(german, "bob", expect_path="/machine")
    german.goto(f"/orders/{shop['order']}")
    receipt = german.locator("#receipt")
    expect(receipt).to_contain_text("01.07.2026, 14:05:09")
    expect(german.locator("#receipt-total")).to_have_text("0,70\xa0€")
    expect(receipt).not_to_contain_text("UTC")
    expect(german.locator("footer")).to_contain_text("Times are shown in Europe/Berlin.")
    check_page(german, f"a receipt in German ({size})")

    english = new_page(**SIZES[size], **ENGLAND)
    login(english, "bob")
    english.goto(f"/orders/{shop['order']}")
    expect(english.locator("#receipt")).to_contain_text(re.compile(r"1 Jul 2026, 12:05:09"))
    expect(english.locator("#receipt-total")).to_have_text("€0.70")
    english.goto("/orders")
    expect(english.locator("#buyer-orders")).to_contain_text("1 Jul 2026, 12:05")
    expect(english.locator("footer")).to_contain_text("Times are shown in UTC.")


def test_a_sellers_price_preview_follows_the_page_locale(app, new_page):
    account("sally", "seller")
    page = new_page(**GERMANY)
    login(page, "sally")
    page.goto("/seller/products/new")
    price = page.get_by_label("Price in euros")
    price.fill("0,33")
    expect(page.locator("#cost-preview")).to_have_text(
        "0,33\xa0€ is not a multiple of 5 cents: try 0,30\xa0€ or 0,35\xa0€")
    price.fill("1.20")
    expect(page.locator("#cost-preview")).to_have_text("Buyers pay 1,20\xa0€")


# ------------------------------------------------------------------ registration: rules first, feedback as one types


@pytest.mark.parametrize(("size", "scheme"), MODES, ids=[f"{s}-{c}" for s, c in MODES])
def test_registration_shows_its_rules_and_zxcvbns_feedback(app, new_page, size, scheme):
    page = new_page(**SIZES[size], color_scheme=scheme)
    scripts = []
    page.on("request", lambda request: scripts.append(request.url) if "zxcvbn" in request.url else None)
    page.goto("/register")
    help_text = page.locator("#password-help")
    expect(help_text).to_contain_text("8-128 characters, and not a common or easy-to-guess password")
    assert scripts == []  # the 822 KB dictionary waits for a password to judge
    page.get_by_label("Username").fill("newbie")
    password = page.get_by_label("Password", exact=True)
    password.fill("password1")
    feedback = page.locator("#password-feedback")
    expect(feedback).to_contain_text("this password would be refused")
    expect(feedback).to_contain_text("This is a very common password")  # zxcvbn's own words
    assert password.get_attribute("aria-describedby") == "password-help password-feedback"
    assert feedback.get_attribute("aria-live") == "polite"
    assert scripts and all(url.endswith("/static/vendor/zxcvbn/zxcvbn.js") for url in scripts)
    check_page(page, f"registration with feedback ({size}, {scheme})")

    password.fill("newbie2024")
    expect(feedback).to_contain_text("would be refused")  # "fair" without the username, weak with it
    password.fill("quartz lantern migrates softly")
    expect(feedback).to_contain_text("Strength: very strong.")
    expect(feedback).not_to_contain_text("refused")

    password.fill("password1")
    page.get_by_label("Repeat password").fill("password1")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#password-error")).to_contain_text("Password is too common or too easy to guess")
    expect(help_text).to_be_visible()  # the rule stays next to the refusal
    expect(help_text).to_contain_text("8-128 characters")
    assert page.get_by_label("Password", exact=True).get_attribute("aria-describedby") == \
        "password-help password-error password-feedback"
    assert box(page.locator("#password-error"))["y"] < box(help_text)["y"]
    check_page(page, f"registration refused ({size}, {scheme})")
    assert fresh(User, username="newbie") is None


# ------------------------------------------------------------------ confirmations


@pytest.mark.parametrize("size", SIZES)
def test_collecting_coins_shows_the_amount_and_asks_first(app, shop, new_page, size):
    page = new_page(**SIZES[size])
    login(page, "operator", expect_path="/admin/tubes")
    collect, refill = page.locator("#collect-card"), page.locator("#refill-card")
    expect(collect.get_by_role("heading")).to_have_text("Collect: take coins out to the cash box")
    expect(refill.get_by_role("heading")).to_have_text("Refill: put coins in")
    expect(collect.get_by_role("group")).to_contain_text("Coins to keep in each tube")
    preview = page.locator("#collect-preview")
    expect(preview).to_have_text("Collecting takes €19.20 out of the tubes.")  # down to the float, 20 of each
    collect.get_by_label("€1").fill("30")
    expect(preview).to_have_text("Collecting takes €9.20 out of the tubes.")  # typed: the €1 tube keeps its 31 less 1
    collect.get_by_label("€1").fill("")
    expect(preview).to_have_text("Type a whole number of coins to keep in each tube.")
    collect.get_by_label("€1").fill("20")
    check_page(page, f"coin tubes ({size})")
    before = {t.coin: t.count for t in db.session.scalars(select(CoinTube))}

    collect.get_by_role("button", name="Review the collection").click()
    expect(page.get_by_role("heading", name="Collect €19.20 into the cash box?")).to_be_visible()
    expect(page.locator("#collect-coins tbody tr")).to_have_count(5)
    check_page(page, f"collection to confirm ({size})")
    db.session.rollback()
    assert {t.coin: t.count for t in db.session.scalars(select(CoinTube))} == before  # asked, nothing taken
    page.get_by_role("button", name="Collect €19.20").click()
    expect(page.locator(".alert-success")).to_have_text(
        "Collected €19.20 into the cash box; the float stays in the tubes.")
    db.session.rollback()
    assert {t.coin: t.count for t in db.session.scalars(select(CoinTube))} == dict.fromkeys(before, 20)


@pytest.mark.parametrize(("size", "scheme"), MODES, ids=[f"{s}-{c}" for s, c in MODES])
def test_log_out_everywhere_asks_first(app, shop, new_page, size, scheme):
    sessions.open_session(shop["bob"], kind="api", ttl_seconds=3600, idle_seconds=7200, user_agent="curl/8.5.0",
                          client_address=None)
    page = new_page(**SIZES[size], color_scheme=scheme)
    login(page, "bob")
    page.goto("/sessions")
    page.get_by_role("link", name="Log out everywhere…").click()
    expect(page.get_by_role("heading", name="Log out everywhere?")).to_be_visible()
    expect(page.locator("main")).to_contain_text("This ends 2 sessions of your account")
    check_page(page, f"log out everywhere? ({size}, {scheme})")
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(re.compile(r"/sessions$"))
    db.session.rollback()
    assert len(db.session.scalars(select(AuthSession).where(AuthSession.user_id == shop["bob"])).all()) == 2
    page.get_by_role("link", name="Log out everywhere…").click()
    page.get_by_role("button", name="Log out everywhere").click()
    expect(page.locator(".alert-info")).to_contain_text("Logged out everywhere: 2 sessions ended")
    db.session.rollback()
    assert db.session.scalars(select(AuthSession).where(AuthSession.user_id == shop["bob"])).all() == []


# ------------------------------------------------------------------ sessions told apart, ended when idle


@pytest.mark.parametrize(("size", "scheme"), MODES, ids=[f"{s}-{c}" for s, c in MODES])
def test_sessions_show_their_network_and_last_activity(app, shop, new_page, size, scheme):
    sessions.open_session(shop["bob"], kind="api", ttl_seconds=3600, idle_seconds=7200, user_agent="curl/8.5.0",
                          client_address="2001:db8:1:2::5")
    page = new_page(**SIZES[size], color_scheme=scheme, **GERMANY)
    login(page, "bob")
    page.goto("/sessions")
    expect(page.locator("#sessions tbody tr")).to_have_count(2)
    current = page.locator("#sessions tr.current-session")
    expect(current.locator(".network")).to_have_text("127.0.0.0/24")
    expect(page.locator("#sessions tr", has_text="curl/8.5.0").locator(".network")).to_have_text("2001:db8:1::/48")
    today = datetime.now(ZoneInfo("Europe/Berlin")).strftime("%d.%m.%Y")
    expect(current.locator(".last-active")).to_contain_text(today)
    log_out = current.get_by_role("button", name=re.compile("^Log out"))
    line = float(log_out.evaluate("el => parseFloat(getComputedStyle(el).lineHeight)"))
    assert box(log_out)["height"] < 2 * line, "“Log out” wraps"
    check_page(page, f"sessions ({size}, {scheme})")


@pytest.mark.parametrize("size", SIZES)
def test_an_idle_session_ends_with_a_message_and_an_active_one_stays(app, shop, new_page, size):
    idle = timedelta(seconds=app.config["SESSION_IDLE_TIMEOUT_SECONDS"])
    page = new_page(**SIZES[size])
    login(page, "bob", expect_path="/machine")
    db.session.rollback()
    web = db.session.scalar(select(AuthSession).where(AuthSession.user_id == shop["bob"], AuthSession.kind == "web"))

    def age(by: timedelta) -> None:
        db.session.refresh(web)
        db.session.execute(update(AuthSession).where(AuthSession.id == web.id).values(
            last_seen_at=web.last_seen_at - by, idle_until=web.idle_until - by))
        db.session.commit()

    age(idle - timedelta(minutes=5))  # a page read for almost two hours
    page.goto("/orders")
    expect(page).to_have_url(re.compile(r"/orders$"))
    age(idle + timedelta(minutes=2))  # then away for longer than the limit
    page.goto("/orders")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Forders$"))
    expect(page.locator("main")).to_contain_text(
        "Your session ended after 2 hours without activity; please log in again")
    check_page(page, f"login after an idle session ({size})")


# ------------------------------------------------------------------ layout: buttons, help texts, phone cards, theme


def same_height_side_by_side(first, second) -> None:
    a, b = box(first), box(second)
    assert abs(a["height"] - b["height"]) < 1, (a, b)
    assert abs(a["y"] - b["y"]) < 1, (a, b)


@pytest.mark.parametrize(("size", "scheme"), MODES, ids=[f"{s}-{c}" for s, c in MODES])
def test_form_buttons_and_help_texts(app, shop, new_page, size, scheme):
    page = new_page(**SIZES[size], color_scheme=scheme)
    login(page, "sally")
    page.goto(f"/seller/products/{shop['cola']}/edit")
    same_height_side_by_side(page.get_by_role("button", name="Save"), page.get_by_role("link", name="Cancel"))
    refundable = page.get_by_label("Buyers may refund it")
    help_text = page.locator("#refundable-help")
    expect(help_text).to_have_text("Refunds are possible shortly after purchase")
    assert refundable.get_attribute("aria-describedby") == "refundable-help"
    label = page.locator("label[for=refundable]")
    assert box(help_text)["y"] >= box(label)["y"] + box(label)["height"] - 1, "the help text runs on the label's line"
    check_page(page, f"product form ({size}, {scheme})")
    page.goto(f"/seller/products/{shop['cola']}/image")
    same_height_side_by_side(page.get_by_role("button", name="Upload"),
                             page.get_by_role("link", name="Skip", exact=True))
    check_page(page, f"picture form ({size}, {scheme})")


def test_phone_cards_keep_a_cells_parts_together(app, shop, new_page):
    page = new_page(**PHONE)
    login(page, "operator")
    page.goto("/admin/orders?since=2026-07-01&until=2026-07-01")
    product = page.locator("#all-orders td[data-label=Product]").first
    gap = product.evaluate("""td => {
        const range = document.createRange();
        range.selectNodeContents(td.firstChild);  // "2 × "
        const text = range.getBoundingClientRect(), link = td.querySelector('a').getBoundingClientRect();
        return {gap: link.left - text.right, sameLine: Math.abs(link.top - text.top) < 4};
    }""")
    assert gap["sameLine"] and gap["gap"] < 12, f"“2 × … Cola” is split: {gap}"
    page.goto("/admin/users")
    name = page.locator("#users td[data-label=Username]").first
    check_page(page, "users on a phone")
    expect(name).to_be_visible()

    bob = new_page(**PHONE)
    login(bob, "bob")
    bob.goto("/sessions")
    kind = bob.locator("#sessions tr.current-session td[data-label=Kind]")
    label_top = kind.evaluate("td => td.getBoundingClientRect().top")
    first, second = kind.locator(".badge").nth(0), kind.locator(".badge").nth(1)
    assert abs(box(first)["y"] - box(second)["y"]) < 2, "the badges sit side by side"
    assert box(first)["y"] - label_top < 12, "the badges are centred in the card instead of beside their label"
    device = bob.locator("#sessions tr.current-session .device")
    assert box(device)["y"] - bob.locator("#sessions tr.current-session td[data-label=Device]").evaluate(
        "td => td.getBoundingClientRect().top") < 12


@pytest.mark.parametrize("size", SIZES)
def test_the_theme_switch_says_which_mode_is_on(app, new_page, size):
    page = new_page(**SIZES[size], color_scheme="dark")
    page.goto("/")
    if size == "phone":
        page.get_by_role("button", name="Menu").click()
    switch = page.get_by_role("switch", name="Dark mode")
    expect(switch).to_be_checked()
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
    check_page(page, f"catalogue, dark ({size})")
    switch.click()
    expect(switch).not_to_be_checked()
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "light")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "light")  # remembered
    if size == "phone":
        page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("switch", name="Dark mode")).not_to_be_checked()
    check_page(page, f"catalogue, light by choice ({size})")
