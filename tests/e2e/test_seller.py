"""The seller in a real browser: euros with a preview, the picture limit, low stock, the sales chart and CSV."""

import csv
import io
import os
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from playwright.sync_api import expect

from app.models import Product
from app.services import audit, vending
from tests.e2e.conftest import CHROMIUM, PHONE, check_page
from tests.e2e.helpers import PASSWORD, account, fresh, login, stock_the_machine

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install chromium"),
]


def picture(path) -> str:
    image = Image.new("RGB", (320, 240), (255, 170, 40))
    for x in range(60, 260):
        for y in range(70, 170):
            if (x - 160) ** 2 / 100**2 + (y - 120) ** 2 / 50**2 <= 1:
                image.putpixel((x, y), (200, 30, 60))
    image.save(path)
    return str(path)


def test_seller_lists_products_in_euros_with_a_picture_and_low_stock(app, new_page, screenshot, tmp_path):
    page = new_page()
    page.goto("/register")
    page.get_by_label("Username").fill("sally")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_label("Sell products (seller)").check()
    check_page(page, "register")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".alert-success")).to_contain_text("Welcome, sally!")

    page.get_by_role("link", name="+ New product").click()
    page.get_by_label("Name").fill("Gummy bears")
    price = page.get_by_label("Price in euros")
    price.fill("0.33")
    expect(page.locator("#cost-preview")).to_have_text("€0.33 is not a multiple of 5 cents: try €0.30 or €0.35")
    price.fill("0,35")
    expect(page.locator("#cost-preview")).to_have_text("Buyers pay €0.35")
    page.get_by_label("Units in stock").fill("10")
    page.get_by_label("Buyers may refund it").check()
    check_page(page, "new product form")
    with page.expect_navigation(url="**/image"):  # the picture page, loaded with its script
        page.get_by_role("button", name="Save").click()
    expect(page.locator(".alert-success")).to_contain_text("“Gummy bears” is on sale at €0.35.")

    uploads = []
    page.on("request", lambda request: uploads.append(request.url) if request.method == "POST" else None)
    big = tmp_path / "huge.png"
    big.write_bytes(os.urandom(1024 * 1024 + 10))
    page.get_by_label("Picture").set_input_files(str(big))
    expect(page.get_by_text("The picture is larger than 1024 KiB: choose a smaller file")).to_be_visible()
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_label("Picture")).to_be_focused()
    assert uploads == []  # refused before anything was sent
    check_page(page, "picture refused in the browser")
    page.get_by_label("Picture").set_input_files(picture(tmp_path / "bears.png"))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".alert-success")).to_contain_text("New picture saved for “Gummy bears”.")

    page.get_by_role("link", name="+ New product").click()
    page.get_by_label("Name").fill("Sparkling water")
    page.get_by_label("Price in euros").fill("1.20")
    page.get_by_label("Units in stock").fill("2")
    page.get_by_role("button", name="Save").click()
    page.goto("/seller/products")
    row = page.locator("#products tr", has_text="Sparkling water")
    expect(row.locator(".low-stock")).to_have_text("Low stock")
    expect(page.locator("#products tr", has_text="Gummy bears").locator(".low-stock")).to_have_count(0)
    bears = fresh(Product, product_name="Gummy bears")
    assert (bears.cost, bears.amount_available, bears.refundable, bears.image_mime) == (35, 10, True, "image/png")
    assert fresh(Product, product_name="Sparkling water").cost == 120
    check_page(page, "seller products")
    screenshot(page, "seller-products")

    visitor = new_page()
    visitor.goto("/")
    card = visitor.locator(".product-card", has_text="Gummy bears")
    expect(card.locator(".price")).to_have_text("€0.35")
    assert card.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    check_page(visitor, "catalogue")
    screenshot(visitor, "catalogue")

    phone = new_page(**PHONE)
    login(phone, "sally")
    phone.goto("/seller/products")
    expect(phone.locator("#products")).to_contain_text("Sparkling water")
    check_page(phone, "seller products on a phone")  # Restock, Edit, Picture and Delete all in view


def test_seller_sales_chart_per_day_and_product_and_csv(app, new_page, screenshot, monkeypatch):
    sally = account("sally", "seller")
    ids = stock_the_machine(sally, {"Cola": (35, 50), "Crisps": (65, 50), "Coffee": (120, 50)},
                            tubes={5: 40, 10: 40, 20: 40, 50: 40})
    bob = account("bob", "buyer")
    now = datetime.now(UTC)
    for days_ago, (name, times) in zip((12, 6, 1), (("Cola", 5), ("Crisps", 3), ("Coffee", 2)), strict=True):
        # sales on three days of the range: the buy's clock is set back (orders, aggregate and ledger agree)
        monkeypatch.setattr(vending, "utcnow", lambda days_ago=days_ago: now - timedelta(days=days_ago))
        for _ in range(times):
            for coin in (100, 50):
                vending.deposit(bob, coin, max_deposit=10_000)
            vending.buy(bob, ids[name], 1, initial_float=20)
    monkeypatch.undo()
    assert audit.run_audit().clean
    page = new_page()
    login(page, "sally")
    page.goto("/seller/sales")
    expect(page.locator("#total-net")).to_have_text("€6.10")
    per_day = page.evaluate("Chart.getChart(document.getElementById('chart-days')).data.datasets[0].data")
    assert len(per_day) == 30 and [v for v in per_day if v] == [1.75, 1.95, 2.4]
    assert page.evaluate("Chart.getChart(document.getElementById('chart-products')).data.labels") == [
        "Coffee", "Crisps", "Cola"]  # best first
    expect(page.locator("#per-product")).to_contain_text("Crisps")
    check_page(page, "seller sales")
    screenshot(page, "seller-sales")

    with page.expect_download() as download:
        page.locator("#csv-export").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert len(rows) == 10 and {r["product"] for r in rows} == {"Cola", "Crisps", "Coffee"}
    assert sorted({r["total_eur"] for r in rows}) == ["0.35", "0.65", "1.20"]

    page.locator("#per-product").get_by_role("link", name="Crisps").click()
    expect(page.locator("#sales tbody tr")).to_have_count(3)
    phone = new_page(**PHONE)
    login(phone, "sally")
    phone.goto("/seller/sales")
    check_page(phone, "seller sales on a phone")
