"""Order lists: filters, totals, Older/Newer by cursor, CSV export; the seller's chart and per-product table."""

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Order
from tests.factories import deposit_coins, make_product
from tests.sqltrace import recorded_sql


@pytest.fixture
def sales(client, buyer, seller, other_seller, set_tubes):
    """Sally sells cola (35) and tea (50), Olga sells water (25): 14 orders, one refunded, one of them 3 days old."""
    set_tubes({5: 50, 10: 50, 20: 50, 50: 50, 100: 50})
    cola = make_product(seller, product_name="Cola", cost=35, refundable=True)
    tea = make_product(seller, product_name="Tea", cost=50)
    water = make_product(other_seller, product_name="Water", cost=25)
    for product in [cola] * 8 + [tea] * 4 + [water] * 2:
        deposit_coins(client, buyer, 100)
        assert client.post("/api/v1/buy", json={"productId": product.id}, headers=buyer.headers).status_code == 200
    orders_ = db.session.query(Order).order_by(Order.id).all()
    assert client.post(f"/api/v1/orders/{orders_[0].id}/refund", headers=buyer.headers).status_code == 200
    return {"cola": cola, "tea": tea, "water": water, "orders": orders_}


def test_operator_filters_orders_with_totals_and_pages_by_cursor(client, admin, web_login, sales):
    web_login(admin)
    body = client.get("/admin/orders").get_data(as_text=True)
    assert body.count('data-label="Order"') == 12 and 'id="total-orders">14<' in body
    older = re.search(r'href="(/admin/orders\?cursor=[^"]+)"[^>]*>Older', body).group(1)
    rest = client.get(older.replace("&amp;", "&")).get_data(as_text=True)
    assert rest.count('data-label="Order"') == 2 and "Newer" in rest and "page=" not in rest
    body = client.get("/admin/orders?seller=SELLER&status=paid").get_data(as_text=True)
    assert 'id="total-orders">11<' in body and 'id="total-net">€4.45<' in body and "Water" not in body
    body = client.get(f"/admin/orders?product={sales['tea'].id}").get_data(as_text=True)
    assert 'id="total-orders">4<' in body and "Product #" in body and "Cola" not in body
    nobody = client.get("/admin/orders?seller=nobody").get_data(as_text=True)
    assert "No seller is called “nobody”" in nobody and "is-invalid" in nobody
    bad = client.get("/admin/orders?since=2026-13-01&status=lost").get_data(as_text=True)
    assert "Not a valid date value" in bad and "Not a valid choice" in bad
    wrong = client.get("/admin/orders?cursor=forged").get_data(as_text=True)
    assert "This cursor is not one the list gave out" in wrong


def cards(body: str) -> dict[str, str]:
    """The totals cards of a page: {label: figure}."""
    found = re.findall(r'<div class="small text-body-secondary">([^<]+)</div>\s*<div class="fs-5 fw-bold" '
                       r'id="total-[a-z]+">([^<]+)</div>', body.split('id="totals"')[1].split('<h2')[0])
    return dict(found)


def test_the_cards_say_gross_refunds_and_net_and_a_refunded_filter_shows_refunds(client, admin, seller, web_login,
                                                                                sales):
    web_login(admin)
    body = client.get("/admin/orders").get_data(as_text=True)
    # 8 colas at 35, 4 teas at 50, 2 waters at 25; one cola refunded
    assert cards(body) == {"Orders": "14", "Gross sales": "€5.30", "Refunds": "€0.35", "Net sales": "€4.95"}
    assert "Revenue" not in body
    refunded = client.get("/admin/orders?status=refunded").get_data(as_text=True)
    assert cards(refunded) == {"Refunded orders": "1", "Refunds": "€0.35"}
    paid = client.get("/admin/orders?status=paid").get_data(as_text=True)
    assert cards(paid) == {"Paid orders": "13", "Net sales": "€4.95"}
    client.post("/logout")

    web_login(seller)
    body = client.get("/seller/sales").get_data(as_text=True)
    assert body.count('id="totals"') == 1 and "Revenue" not in body  # one set of cards
    assert cards(body) == {"Orders": "12", "Gross sales": "€4.80", "Refunds": "€0.35", "Net sales": "€4.45"}
    refunded = client.get("/seller/sales?status=refunded").get_data(as_text=True)
    assert cards(refunded) == {"Refunded orders": "1", "Refunds": "€0.35"}
    assert "Refunds per day" in refunded and "Net sales per day" not in refunded


def test_the_buyer_list_works_out_no_totals(client, buyer, web_login, sales):
    web_login(buyer)
    with recorded_sql(db.engine) as statements:
        body = client.get("/orders").get_data(as_text=True)
    assert body.count("· receipt") == 12
    assert not [s for s in statements if "sum(" in s.lower() or "count(" in s.lower()], statements


def test_operator_exports_the_filtered_orders_as_csv(client, admin, web_login, sales):
    web_login(admin)
    response = client.get("/admin/orders.csv?seller=seller&status=refunded")
    assert response.mimetype == "text/csv"
    assert re.match(r'attachment; filename="orders-\d{8}-\d{4}\.csv"', response.headers["Content-Disposition"])
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["product"], r["total_eur"], r["status"]) for r in rows] == [("Cola", "0.35", "refunded")]
    everything = list(csv.DictReader(io.StringIO(client.get("/admin/orders.csv").get_data(as_text=True))))
    assert len(everything) == 14 and everything[0]["change_eur"] == "0.75"


def test_seller_sees_a_chart_per_day_and_per_product_and_exports_csv(client, seller, web_login, sales):
    web_login(seller)
    body = client.get("/seller/sales").get_data(as_text=True)
    assert 'id="chart-days"' in body and 'id="chart-products"' in body and "chart.umd.min.js" in body
    chart = json.loads(re.search(r"data-chart='([^']+)'", body).group(1))
    assert (chart["span"], chart["figure"], len(chart["periods"])) == ("day", "net", 30)
    assert chart["products"] == ["Cola", "Tea"] and chart["productValues"] == [2.45, 2.0]
    assert sum(chart["values"]) == pytest.approx(4.45)
    per_product = body.split('id="per-product"')[1].split("</table>")[0]
    assert "Cola" in per_product and "€2.45" in per_product and "Water" not in per_product
    today = datetime.now(UTC).date()
    before = client.get(f"/seller/sales?since={today - timedelta(days=40)}&until={today - timedelta(days=31)}"
                        ).get_data(as_text=True)
    assert 'id="total-net">€0.00<' in before and before.count("No sales in this range.") == 1
    rows = list(csv.DictReader(io.StringIO(client.get("/seller/sales.csv").get_data(as_text=True))))
    assert len(rows) == 12 and {r["seller"] for r in rows} == {"seller"}
    # the CSV's figures add up to the cards: gross, refunds and net of each order
    assert [sum(Decimal(r[name]) for r in rows) for name in ("total_eur", "refunded_eur", "net_eur")] == [
        Decimal("4.80"), Decimal("0.35"), Decimal("4.45")]


def test_buyer_orders_list_is_keyset_paged(client, buyer, web_login, sales):
    web_login(buyer)
    body = client.get("/orders").get_data(as_text=True)
    assert body.count("· receipt") == 12 and "Older" in body


def test_the_operator_and_the_seller_open_on_the_last_30_days_and_offer_every_period(client, admin, seller,
                                                                                    web_login, sales):
    """Both pages open on the same period, shown in the form and kept in the Older/Newer and CSV links; the
    period links switch to any other, all time included."""
    old = sales["orders"][-2]  # a water
    oldest = sales["orders"][1]  # a cola
    for order, days in ((old, 40), (oldest, 400)):
        db.session.execute(Order.__table__.update().where(Order.id == order.id)
                           .values(created_at=datetime.now(UTC) - timedelta(days=days)))
    db.session.commit()
    rebuild_sales_aggregate()
    today = datetime.now(UTC).date()
    month_ago = (today - timedelta(days=29)).isoformat()

    # every order; of them, those of the last 30 days (the water of 40 days ago is not the seller's)
    for account, path, total, recent in ((admin, "/admin/orders", 14, 12), (seller, "/seller/sales", 12, 11)):
        web_login(account)
        body = client.get(path).get_data(as_text=True)
        assert f'value="{month_ago}"' in body and f'value="{today.isoformat()}"' in body, path
        assert re.search(r'class="nav-link[^"]* active" aria-current="true"\s+href="[^"]*period=30d', body), path
        csv_link = re.search(r'href="(/(?:admin/orders|seller/sales)\.csv\?[^"]+)"', body).group(1)
        assert "period=30d" in csv_link, path
        assert cards(body)["Orders"] == str(recent), path
        everything = client.get(f"{path}?period=all").get_data(as_text=True)
        assert cards(everything)["Orders"] == str(total), path
        assert 'name="since" type="date" value=""' in everything, path
        year = client.get(f"{path}?period=year").get_data(as_text=True)
        assert f'value="{today.replace(month=1, day=1).isoformat()}"' in year, path
        client.post("/logout")


def rebuild_sales_aggregate():
    """The aggregate as the migration fills it, after a test moved orders in time behind its back."""
    from app.models import SalesPeriod
    from app.services import sales as sales_service

    db.session.execute(SalesPeriod.__table__.delete())
    for order in db.session.scalars(select(Order)):
        sales_service.record_sale(seller_id=order.seller_id, product_id=order.product_id, at=order.created_at,
                                  units=order.amount, cents=order.total_spent)
        if order.status == "refunded":
            sales_service.record_refund(order)
    db.session.commit()


def test_an_invalid_range_is_refused_at_its_field_with_nothing_else_said(client, admin, seller, buyer, web_login,
                                                                         sales):
    for account, path in ((seller, "/seller/sales"), (admin, "/admin/orders"), (buyer, "/orders")):
        web_login(account)
        body = client.get(f"{path}?since=2026-11-20&until=2026-11-01").get_data(as_text=True)
        until = re.search(r'<input[^>]*name="until"[^>]*>\s*<div class="invalid-feedback[^>]*>([^<]+)<', body)
        assert "is-invalid" in until.group(0) and until.group(1) == "The end date must not be before the start date"
        assert 'id="no-orders"' not in body and "No sales in this range" not in body, path
        assert 'id="totals"' not in body and "receipt" not in body.split("</form>")[1], path
        client.post("/logout")
