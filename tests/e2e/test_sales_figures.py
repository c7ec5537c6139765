"""Money figures and date filters in a real browser, at 1280x800 and 390x844: the seller's and the operator's
cards say gross sales, refunds and net and agree with the orders (a refund included), a "refunded" filter shows
refunds, the period links switch the range (all time included), and an invalid range is refused at its field
with nothing contradicting it and the filter row still lined up."""

import os
import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import Order
from app.services import orders, reports, vending
from tests.e2e.conftest import CHROMIUM, DESKTOP, PHONE, check_page
from tests.e2e.helpers import account, login, stock_the_machine

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install chromium"),
]
SIZES = {"desktop": DESKTOP, "phone": PHONE}
# (days ago, product, units, refunded): today's first cola is paid back.
SOLD = [(0, "Cola", 1, True), (0, "Cola", 2, False), (0, "Crisps", 1, False), (0, "Water", 1, False),
        (10, "Crisps", 2, False), (45, "Cola", 1, True), (45, "Water", 3, False), (400, "Crisps", 1, False)]


@pytest.fixture
def shop(app, monkeypatch):
    """Sally sells cola (refundable) and crisps, Olga water; bob's orders over 400 days, two refunded."""
    sally, olga = account("sally", "seller"), account("olga", "seller")
    account("operator", "admin")
    ids = stock_the_machine(sally, {"Cola": (35, 50), "Crisps": (65, 50)}, refundable=("Cola",),
                            tubes={5: 50, 10: 50, 20: 50, 50: 50, 100: 50})
    ids.update(stock_the_machine(olga, {"Water": (25, 50)}))
    bob = account("bob", "buyer")
    now = datetime.now(UTC)
    for days_ago, name, units, refunded in SOLD:
        at = now - timedelta(days=days_ago, seconds=1)
        # the buy's and the refund's clocks set back: orders, aggregate and ledger agree
        monkeypatch.setattr(vending, "utcnow", lambda at=at: at)
        monkeypatch.setattr(orders, "utcnow", lambda at=at: at + timedelta(seconds=1))
        vending.deposit(bob, 100, max_deposit=10_000)
        vending.deposit(bob, 100, max_deposit=10_000)
        order = vending.buy(bob, ids[name], units, initial_float=20).order
        if refunded:
            orders.refund(bob, order.id, window_seconds=900, initial_float=20)
    monkeypatch.undo()
    return {"sally": sally.id}


def euros(cents: int) -> str:
    return f"€{cents // 100}.{cents % 100:02d}"


def figures(*, since=None, until=None, seller_id=None, status=None) -> dict[str, str]:
    """The cards the page must show, worked out from the orders themselves."""
    db.session.rollback()
    found = [o for o in db.session.scalars(select(Order))
             if (since is None or o.created_at.date() >= since) and (until is None or o.created_at.date() <= until)
             and seller_id in (None, o.seller_id) and status in (None, o.status)]
    gross = sum(o.total_spent for o in found)
    refunds = sum(o.refunded_amount for o in found)
    if status == "refunded":
        return {"Refunded orders": str(len(found)), "Refunds": euros(refunds)}
    if status == "paid":
        return {"Paid orders": str(len(found)), "Net sales": euros(gross - refunds)}
    return {"Orders": str(len(found)), "Gross sales": euros(gross), "Refunds": euros(refunds),
            "Net sales": euros(gross - refunds)}


def cards(page) -> dict[str, str]:
    """The totals cards as shown: {label: figure}."""
    expect(page.locator("#totals")).to_be_visible()
    found = {}
    for card in page.locator("#totals .card-body").all():
        label = card.locator("div").nth(0).inner_text().strip()
        found[label] = card.locator("div").nth(1).inner_text().strip()
    return found


def today():
    return datetime.now(UTC).date()


@pytest.mark.parametrize("size", SIZES)
def test_cards_say_gross_refunds_and_net_as_the_orders_do(shop, new_page, size):
    month_ago = today() - timedelta(days=29)
    seller = new_page(**SIZES[size])
    login(seller, "sally")
    seller.goto("/seller/sales")

    assert cards(seller) == figures(since=month_ago, until=today(), seller_id=shop["sally"])
    assert cards(seller) == {"Orders": "4", "Gross sales": "€3.00", "Refunds": "€0.35", "Net sales": "€2.65"}
    expect(seller.locator("#totals")).to_have_count(1)  # one set of cards on the page
    expect(seller.get_by_text("Revenue")).to_have_count(0)
    check_page(seller, f"seller sales ({size})")

    operator = new_page(**SIZES[size])
    login(operator, "operator")
    operator.goto("/admin/orders")
    assert cards(operator) == figures(since=month_ago, until=today())
    operator.get_by_label("Status").select_option("refunded")
    operator.get_by_role("button", name="Show").click()
    assert cards(operator) == figures(since=month_ago, until=today(), status="refunded") == {
        "Refunded orders": "1", "Refunds": "€0.35"}
    expect(operator.get_by_text("Gross sales")).to_have_count(0)
    expect(operator.get_by_text("Net sales")).to_have_count(0)
    check_page(operator, f"operator orders, refunded ({size})")
    operator.get_by_label("Status").select_option("paid")
    operator.get_by_role("button", name="Show").click()
    assert cards(operator) == figures(since=month_ago, until=today(), status="paid")


@pytest.mark.parametrize("size", SIZES)
def test_the_period_links_switch_the_range_all_time_included(shop, new_page, size):
    for who, path, seller_id in (("sally", "/seller/sales", shop["sally"]), ("operator", "/admin/orders", None)):
        page = new_page(**SIZES[size])
        login(page, who)
        page.goto(path)
        periods = page.get_by_role("navigation", name="Period")
        expect(periods.locator("[aria-current]")).to_have_text("Last 30 days")  # both pages open on it
        for key, label in reports.PERIODS.items():
            periods.get_by_role("link", name=label).click()
            expect(periods.locator("[aria-current]")).to_have_text(label)
            since, until = reports.period_range(key, today=today())
            expect(page.get_by_label("From", exact=True)).to_have_value(since.isoformat() if since else "")
            expect(page.get_by_label("Until", exact=True)).to_have_value(until.isoformat() if until else "")
            assert cards(page) == figures(since=since, until=until, seller_id=seller_id), (who, key)
        assert cards(page)["Orders"] == ("6" if who == "sally" else "8")  # all time: the order of 400 days ago too
        if who == "sally":  # a chart per month from the first sale
            labels = page.evaluate("Chart.getChart(document.getElementById('chart-days')).data.labels")
            assert len(labels) >= 13 and all(re.fullmatch(r"\d{4}-\d{2}", label) for label in labels)
        check_page(page, f"{path}, all time ({size})")


@pytest.mark.parametrize("size", SIZES)
def test_an_invalid_range_is_refused_at_its_field_and_the_row_stays_lined_up(shop, new_page, size):
    for who, path in (("sally", "/seller/sales"), ("operator", "/admin/orders"), ("bob", "/orders")):
        page = new_page(**SIZES[size])
        login(page, who)
        page.goto(path)
        page.get_by_label("From", exact=True).fill("2026-11-20")
        page.get_by_label("Until", exact=True).fill("2026-11-01")
        width = page.get_by_label("Until", exact=True).bounding_box()["width"]
        page.get_by_role("button", name="Show").click()

        until = page.get_by_label("Until", exact=True)
        expect(until).to_have_class(re.compile(r"\bis-invalid\b"))
        expect(until).to_have_accessible_description("The end date must not be before the start date")
        expect(page.get_by_text("No sales in this range")).to_have_count(0)
        expect(page.get_by_text(re.compile("^No orders"))).to_have_count(0)
        expect(page.locator("#totals")).to_have_count(0)
        fields = [page.get_by_label(name, exact=True).bounding_box() for name in ("From", "Until")]
        assert abs(fields[0]["y"] - fields[1]["y"]) < 1, f"From and Until are not on one line on {path}"
        assert abs(fields[1]["width"] - width) < 1, f"the error widened its field on {path}"
        show = page.get_by_role("button", name="Show").bounding_box()
        if size == "desktop":  # one row: the buttons line up with the fields
            assert abs(show["y"] + show["height"] - fields[0]["y"] - fields[0]["height"]) < 1, path
        else:  # the buttons on their own row below the fields and their error
            error = page.locator("#until-error").bounding_box()
            assert show["y"] >= error["y"] + error["height"], path
        check_page(page, f"{path} with an invalid range ({size})")
