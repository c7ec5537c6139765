"""The operator in a real browser: low tubes, refill and collect with the history, orders with filters,
totals and CSV, users with search; at desktop and phone size."""

import csv
import io
import os

import pytest
from playwright.sync_api import expect

from app.models import CoinTube
from app.services import audit, operator, orders, vending
from tests.e2e.conftest import CHROMIUM, PHONE, check_page
from tests.e2e.helpers import account, login, stock_the_machine

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install chromium"),
]


def tubes() -> dict[int, int]:
    from app.extensions import db

    db.session.rollback()
    return {t.coin: t.count for t in db.session.query(CoinTube)}


@pytest.fixture
def shop(app):
    """Two sellers, a buyer with 14 orders (one refunded), the 10c tube empty."""
    sally, olga = account("sally", "seller"), account("olga", "seller")
    account("operator", "admin")
    ids = stock_the_machine(sally, {"Cola": (35, 50), "Crisps": (65, 50)}, refundable=("Cola",),
                            tubes={5: 60, 10: 0, 20: 20, 50: 20, 100: 0})
    ids.update(stock_the_machine(olga, {"Water": (25, 50)}))
    bob = account("bob", "buyer")
    sold = []
    for name in ["Cola"] * 7 + ["Crisps"] * 4 + ["Water"] * 3:
        vending.deposit(bob, 100, max_deposit=10_000)
        sold.append(vending.buy(bob, ids[name], 1, initial_float=20).order)
    orders.refund(bob, sold[0].id, window_seconds=900, initial_float=20)  # a cola
    return ids


def test_operator_refills_collects_and_reads_the_tube_history(app, shop, new_page, screenshot):
    page = new_page()
    login(page, "operator", expect_path="/admin/tubes")
    low = [t.coin for t in operator.tube_states(20) if t.low]
    assert 10 in low
    expect(page.locator(".tube-low")).to_have_count(len(low))
    expect(page.locator("#tube-10")).to_contain_text("Empty · warns at 5")
    check_page(page, "coin tubes")
    before = tubes()
    page.locator("#refill-c10").fill("30")
    page.locator("#refill-c5").fill("20")
    page.get_by_role("button", name="Refill the tubes").click()
    expect(page.locator(".alert-success")).to_have_text("Refilled the tubes with €4.00.")
    expect(page.locator("#tube-10")).not_to_have_class("tube-low")
    expect(page.locator("#tube-10 .tube-count")).to_have_text("30")
    for coin in (5, 10, 20, 50):
        page.locator(f"#collect-c{coin}").fill("20")
    page.locator("#collect-c100").fill("0")
    page.get_by_role("button", name="Review the collection").click()
    expect(page.get_by_role("heading", name="into the cash box?")).to_be_visible()
    page.get_by_role("button", name="Collect €").click()
    expect(page.locator(".alert-success")).to_contain_text("into the cash box; the float stays in the tubes.")
    after = tubes()
    assert after[100] == 0 and after[10] == 20 and after[5] == min(before[5] + 20, 20)
    history = page.locator("#tube-history")
    expect(history.locator("tbody tr").first).to_contain_text("Collected into the cash box")
    expect(history).to_contain_text("Refilled")
    expect(history).to_contain_text("Sale: change out")
    assert audit.run_audit().clean
    page.get_by_role("link", name="operator only").click()
    expect(history.locator("tbody tr").first).to_contain_text("Collected into the cash box")
    expect(history).not_to_contain_text("Sale:")
    screenshot(page, "admin-tubes")


def test_operator_filters_orders_sees_totals_and_exports_csv(app, shop, new_page, screenshot):
    page = new_page()
    login(page, "operator")
    page.goto("/admin/orders")
    expect(page.locator("#total-orders")).to_have_text("14")
    expect(page.locator("#all-orders tbody tr")).to_have_count(12)
    page.get_by_role("link", name="Older ›").click()
    expect(page.locator("#all-orders tbody tr")).to_have_count(2)
    page.get_by_role("link", name="‹ Newer").click()
    expect(page.locator("#all-orders tbody tr")).to_have_count(12)
    page.get_by_label("Seller").fill("sally")
    page.get_by_label("Status").select_option("paid")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#total-orders")).to_have_text("10")  # 7 colas, one refunded, and 4 crisps
    expect(page.locator("#total-net")).to_have_text("€4.70")
    expect(page.locator("#all-orders")).not_to_contain_text("Water")
    check_page(page, "operator orders, filtered")
    screenshot(page, "admin-orders")
    with page.expect_download() as download:
        page.locator("#csv-export").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert len(rows) == 10 and {(r["seller"], r["status"]) for r in rows} == {("sally", "paid")}
    page.get_by_label("Seller").fill("nobody")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("No seller is called “nobody”")).to_be_visible()

    phone = new_page(**PHONE)
    login(phone, "operator")
    for path in ("/admin/orders", "/admin/tubes", "/admin/users"):
        phone.goto(path)
        check_page(phone, f"{path} on a phone")


def test_operator_searches_users(app, shop, new_page):
    page = new_page()
    login(page, "operator")
    page.goto("/admin/users")
    page.get_by_label("Search users by name").fill("LL")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#found")).to_have_text("1 user matching “LL”")
    expect(page.locator("#users")).to_contain_text("sally")
    page.get_by_role("link", name="seller").click()
    expect(page.locator("#found")).to_have_text("1 user matching “LL”")
    check_page(page, "users, searched")
