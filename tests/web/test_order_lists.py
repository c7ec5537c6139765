"""Order lists: filters, totals, Older/Newer by cursor, CSV export; the seller's chart and per-product table."""

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.models import Order
from tests.factories import deposit_coins, make_product


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
    assert 'id="total-orders">11<' in body and 'id="revenue">€4.45<' in body and "Water" not in body
    body = client.get(f"/admin/orders?product={sales['tea'].id}").get_data(as_text=True)
    assert 'id="total-orders">4<' in body and "Product #" in body and "Cola" not in body
    nobody = client.get("/admin/orders?seller=nobody").get_data(as_text=True)
    assert "No seller is called “nobody”" in nobody and "is-invalid" in nobody
    bad = client.get("/admin/orders?since=2026-13-01&status=lost").get_data(as_text=True)
    assert "Not a valid date value" in bad and "Not a valid choice" in bad
    wrong = client.get("/admin/orders?cursor=forged").get_data(as_text=True)
    assert "This cursor is not one the list gave out" in wrong


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
    assert len(chart["days"]) == 30 and chart["products"] == ["Cola", "Tea"]
    assert chart["productRevenue"] == [2.45, 2.0]
    assert sum(chart["revenue"]) == pytest.approx(4.45) and sum(chart["units"]) == 11
    per_product = body.split('id="per-product"')[1].split("</table>")[0]
    assert "Cola" in per_product and "€2.45" in per_product and "Water" not in per_product
    today = datetime.now(UTC).date()
    before = client.get(f"/seller/sales?since={today - timedelta(days=40)}&until={today - timedelta(days=31)}"
                        ).get_data(as_text=True)
    assert 'id="summary-revenue">€0.00<' in before and "No sales in this range." in before
    rows = list(csv.DictReader(io.StringIO(client.get("/seller/sales.csv").get_data(as_text=True))))
    assert len(rows) == 12 and {r["seller"] for r in rows} == {"seller"}
    bad = client.get("/seller/sales?since=2026-11-20&until=2026-11-01").get_data(as_text=True)
    assert "The end date must not be before the start date" in bad and "is-invalid" in bad


def test_buyer_orders_list_is_keyset_paged(client, buyer, web_login, sales):
    web_login(buyer)
    body = client.get("/orders").get_data(as_text=True)
    assert body.count("· receipt") == 12 and "Older" in body


def test_the_operator_sees_the_last_seven_days_by_default_and_any_range_on_request(client, admin, web_login, sales):
    """The operator's totals come from the running aggregate over a date range: the page opens on the last
    seven days (shown in the form) and keeps the range in its Older/Newer and CSV links."""
    old = sales["orders"][-1]
    db.session.execute(Order.__table__.update().where(Order.id == old.id)
                       .values(created_at=datetime.now(UTC) - timedelta(days=10)))
    db.session.commit()
    web_login(admin)
    today = datetime.now(UTC).date()
    week_ago = (today - timedelta(days=6)).isoformat()

    water = sales["water"].id
    body = client.get(f"/admin/orders?product={water}").get_data(as_text=True)
    wider = client.get(f"/admin/orders?product={water}&since={(today - timedelta(days=30)).isoformat()}")

    assert f'value="{week_ago}"' in body and f'value="{today.isoformat()}"' in body
    assert body.count('data-label="Order"') == 1 and f'href="/orders/{old.id}"' not in body
    assert wider.get_data(as_text=True).count('data-label="Order"') == 2
    csv_link = re.search(r'href="(/admin/orders\.csv\?[^"]+)"', body).group(1)
    assert f"since={week_ago}" in csv_link and f"until={today.isoformat()}" in csv_link
