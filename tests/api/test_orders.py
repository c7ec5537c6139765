"""Order history, its visibility, and refunds."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import CoinTube, LedgerEntry, Order, Product
from tests.api.conftest import API, assert_error, buy_via_api, pagination
from tests.factories import make_product

ORDER_FIELDS = {"id", "productId", "productName", "unitCost", "amount", "totalSpent", "change", "buyerId",
                "sellerId", "status", "refundable", "createdAt", "refundedAt"}


def tubes() -> dict[int, int]:
    db.session.rollback()
    return {t.coin: t.count for t in db.session.query(CoinTube)}


@pytest.fixture
def sales(client, buyer, other_buyer, seller, other_seller, set_tubes):
    """Three orders: buyer buys Cola (seller) twice, other_buyer buys Water (other_seller)."""
    set_tubes({5: 10, 10: 10, 20: 10, 50: 10, 100: 10})
    cola = make_product(seller, product_name="Cola", cost=35, refundable=True)
    water = make_product(other_seller, product_name="Water", cost=25)
    first = buy_via_api(client, buyer, cola, 50)["orderId"]
    second = buy_via_api(client, buyer, cola, 100, amount=2)["orderId"]
    third = buy_via_api(client, other_buyer, water, 20, 5)["orderId"]
    return {"cola": cola, "water": water, "first": first, "second": second, "third": third}


def listed(client, account, **query) -> list[int]:
    response = client.get(f"{API}/orders", headers=account.headers, query_string=query)
    assert response.status_code == 200
    assert all(set(o) == ORDER_FIELDS for o in response.json)
    return [o["id"] for o in response.json]


def test_order_body(client, buyer, seller, sales):
    response = client.get(f"{API}/orders/{sales['second']}", headers=buyer.headers)

    assert response.status_code == 200
    body = response.json
    assert set(body) == ORDER_FIELDS
    assert {k: v for k, v in body.items() if k != "createdAt"} == {
        "id": sales["second"], "productId": sales["cola"].id, "productName": "Cola", "unitCost": 35, "amount": 2,
        "totalSpent": 70, "change": [20, 10], "buyerId": buyer.id, "sellerId": seller.id, "status": "paid",
        "refundable": True, "refundedAt": None}
    datetime.fromisoformat(body["createdAt"])


def test_each_role_sees_its_own_orders_newest_first(client, buyer, other_buyer, seller, other_seller, admin, sales):
    assert listed(client, buyer) == [sales["second"], sales["first"]]
    assert listed(client, other_buyer) == [sales["third"]]
    assert listed(client, seller) == [sales["second"], sales["first"]]
    assert listed(client, other_seller) == [sales["third"]]
    assert listed(client, admin) == [sales["third"], sales["second"], sales["first"]]


def test_a_numbered_page_says_where_it_is_without_counting_the_history(client, admin, sales):
    response = client.get(f"{API}/orders", headers=admin.headers, query_string={"page": 2, "page_size": 2})
    assert [o["id"] for o in response.json] == [sales["first"]]
    assert pagination(response) == {"page_size": 2, "has_next": False, "page": 2}
    assert 'rel="prev"' in response.headers["Link"] and 'rel="next"' not in response.headers["Link"]
    assert_error(client.get(f"{API}/orders", headers=admin.headers, query_string={"page_size": 101}), 422)


def links(response) -> dict[str, str]:
    """The Link header as {rel: URL}."""
    found = {}
    for part in response.headers.get("Link", "").split(","):
        if part.strip():
            url, rel = part.split(";")
            found[rel.strip().removeprefix('rel="').rstrip('"')] = url.strip().strip("<>")
    return found


@pytest.fixture
def history(client, buyer, seller, set_tubes):
    """Seven orders of one buyer, oldest first."""
    set_tubes({5: 50, 10: 50, 20: 50, 50: 50, 100: 50})
    cola = make_product(seller, product_name="Cola", cost=35, amount_available=50, refundable=True)
    ids = [buy_via_api(client, buyer, cola, 50)["orderId"] for _ in range(7)]
    return ids


def test_following_the_cursor_walks_the_whole_history_both_ways(client, buyer, history):
    seen, response = [], client.get(f"{API}/orders", headers=buyer.headers, query_string={"page_size": 3})
    pages = [response]
    while "next" in links(response):
        response = client.get(links(response)["next"], headers=buyer.headers)
        pages.append(response)
    for page in pages:
        assert page.status_code == 200
        seen += [o["id"] for o in page.json]
    assert seen == list(reversed(history))
    assert [len(page.json) for page in pages] == [3, 3, 1]
    assert "prev" not in links(pages[0]) and "next" not in links(pages[-1])
    back = client.get(links(pages[-1])["prev"], headers=buyer.headers)
    assert [o["id"] for o in back.json] == [o["id"] for o in pages[1].json]
    assert pagination(back) == {"page_size": 3, "has_next": True}


def test_pages_past_the_cap_and_foreign_cursors_are_422(client, buyer, history, db_snapshot):
    before = db_snapshot()
    deep = client.get(f"{API}/orders", headers=buyer.headers, query_string={"page": 101})
    forged = client.get(f"{API}/orders", headers=buyer.headers, query_string={"cursor": "not-ours"})
    both = client.get(f"{API}/orders", headers=buyer.headers, query_string={"cursor": "x", "page": 2})

    assert "Link header" in str(assert_error(deep, 422)["errors"]["query"]["page"])
    assert assert_error(forged, 422)["errors"] == {"json": {"cursor": ["This cursor is not one the list gave out"]}}
    assert assert_error(both, 422)["errors"]["query"]["page"]
    assert db_snapshot() == before


def cursor_of(*parts) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


FORGED_CURSORS = {
    # from issue 22: a naive moment and the id 2**63, one past a BIGINT: an overflow error on either database
    "issue 22": "WyJvbGRlciIsIjIwMjYtMDEtMDFUMDA6MDA6MDAiLDkyMjMzNzIwMzY4NTQ3NzU4MDhd",
    "id 2**63": cursor_of("older", "2026-01-01T00:00:00+00:00", 2**63),
    "id 10**30": cursor_of("older", "2026-01-01T00:00:00+00:00", 10**30),
    "id 0": cursor_of("older", "2026-01-01T00:00:00+00:00", 0),
    "negative id": cursor_of("newer", "2026-01-01T00:00:00+00:00", -1),
    "before year 1 in UTC": cursor_of("newer", "0001-01-01T00:00:00+05:00", 1),
    "after 9999 in UTC": cursor_of("older", "9999-12-31T23:00:00-05:00", 1),
    "year 9999": cursor_of("older", "9999-12-31T00:00:00+00:00", 1),
    "naive": cursor_of("older", "2026-01-01T00:00:00", 1),
    "not a string": cursor_of("older", 20260101, 1),
    "an object": base64.urlsafe_b64encode(b'{"older": 1, "a": 2, "b": 3}').decode(),
    "NUL": "\x00",
}


@pytest.mark.parametrize("cursor", FORGED_CURSORS.values(), ids=FORGED_CURSORS.keys())
def test_forged_cursors_are_422_before_they_reach_the_database(client, buyer, history, db_snapshot, cursor):
    before = db_snapshot()
    response = client.get(f"{API}/orders", headers=buyer.headers, query_string={"cursor": cursor})
    errors = assert_error(response, 422)["errors"]
    assert errors in ({"json": {"cursor": ["This cursor is not one the list gave out"]}},
                      {"query": {"cursor": ["Must not contain NUL characters."]}})
    assert db_snapshot() == before


DAY_RULE = "Choose a day from 1970-01-01 to 9998-12-31"


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("day", ["9999-12-31", "9999-12-30", "0001-01-01", "1969-12-31"])
def test_days_outside_the_range_are_422(client, buyer, sales, db_snapshot, name, day):
    before = db_snapshot()
    response = client.get(f"{API}/orders", headers=buyer.headers, query_string={name: day})
    assert assert_error(response, 422)["errors"] == {"query": {name: [DAY_RULE]}}
    assert db_snapshot() == before


def test_the_first_and_last_days_of_the_range_are_served(client, buyer, sales):
    everything = listed(client, buyer)
    assert listed(client, buyer, since="1970-01-01", until="9998-12-31") == everything
    assert listed(client, buyer, since="9998-12-31") == [] and listed(client, buyer, until="1970-01-01") == []


def test_the_operator_filters_orders_by_status_seller_product_and_day(client, admin, buyer, sales):
    assert client.post(f"{API}/orders/{sales['first']}/refund", headers=buyer.headers).status_code == 200
    today = datetime.now(UTC).date()

    assert listed(client, admin, status="refunded") == [sales["first"]]
    assert listed(client, admin, status="paid") == [sales["third"], sales["second"]]
    assert listed(client, admin, sellerId=sales["water"].seller_id) == [sales["third"]]
    assert listed(client, admin, productId=sales["cola"].id) == [sales["second"], sales["first"]]
    assert listed(client, admin, since=today.isoformat(), until=today.isoformat()) == [
        sales["third"], sales["second"], sales["first"]]
    assert listed(client, admin, until=(today - timedelta(days=1)).isoformat()) == []
    assert_error(client.get(f"{API}/orders", headers=admin.headers, query_string={"status": "lost"}), 422)


def totals(client, account, **query) -> dict:
    response = client.get(f"{API}/orders/totals", headers=account.headers, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def figures_of_the_list(client, account, **query) -> dict:
    """The figures of every order GET /orders lists with these filters, by the one definition: gross is what
    the orders cost, refunds what was paid back, net what stands."""
    listed_orders = client.get(f"{API}/orders", headers=account.headers,
                               query_string={**query, "page_size": 100}).json
    gross = sum(o["totalSpent"] for o in listed_orders)
    refunds = sum(o["totalSpent"] for o in listed_orders if o["status"] == "refunded")
    return {"orders": len(listed_orders), "units": sum(o["amount"] for o in listed_orders), "gross": gross,
            "refunds": refunds, "net": gross - refunds}


def test_the_totals_are_those_of_the_listed_orders_for_every_role_and_filter(client, accounts, sales):
    buyer = accounts["buyer"]
    assert client.post(f"{API}/orders/{sales['first']}/refund", headers=buyer.headers).status_code == 200
    today = datetime.now(UTC).date()
    queries = [{}, {"status": "paid"}, {"status": "refunded"}, {"sellerId": sales["cola"].seller_id},
               {"sellerId": sales["water"].seller_id}, {"productId": sales["cola"].id},
               {"productId": sales["cola"].id, "status": "refunded"}, {"since": today.isoformat()},
               {"since": today.isoformat(), "until": today.isoformat()},
               {"until": (today - timedelta(days=1)).isoformat()}, {"since": (today + timedelta(days=1)).isoformat()}]

    for who in ("buyer", "other_buyer", "seller", "other_seller", "admin"):
        for query in queries:
            assert totals(client, accounts[who], **query) == figures_of_the_list(client, accounts[who], **query), (
                who, query)

    # 35 + 2 x 35 + 25 cents, the first cola paid back
    assert totals(client, accounts["admin"]) == {"orders": 3, "units": 4, "gross": 130, "refunds": 35, "net": 95}
    assert totals(client, accounts["admin"], status="refunded") == {
        "orders": 1, "units": 1, "gross": 35, "refunds": 35, "net": 0}
    assert totals(client, accounts["seller"]) == {"orders": 2, "units": 3, "gross": 105, "refunds": 35, "net": 70}
    assert totals(client, accounts["other_seller"], sellerId=sales["cola"].seller_id) == {
        "orders": 0, "units": 0, "gross": 0, "refunds": 0, "net": 0}


@pytest.mark.parametrize("query", [{"status": "lost"}, {"sellerId": 0}, {"productId": -1}, {"since": "2026-13-01"},
                                   {"until": "yesterday"}, {"sellerId": 2**31}])
def test_totals_refuse_what_the_list_filters_refuse(client, admin, sales, query):
    body = assert_error(client.get(f"{API}/orders/totals", headers=admin.headers, query_string=query), 422)
    assert set(body["errors"]["query"]) == {next(iter(query))}


def test_totals_need_a_token(client, sales):
    response = client.get(f"{API}/orders/totals")
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("who, status", [("buyer", 200), ("seller", 200), ("admin", 200),
                                         ("other_buyer", 404), ("other_seller", 404)])
def test_order_by_id_visibility(client, accounts, sales, who, status):
    response = client.get(f"{API}/orders/{sales['first']}", headers=accounts[who].headers)
    if status == 200:
        assert response.status_code == 200 and response.json["id"] == sales["first"]
    else:  # someone else's order answers exactly as a missing one: ids cannot be probed
        missing = client.get(f"{API}/orders/99999", headers=accounts[who].headers)
        assert assert_error(response, 404) == assert_error(missing, 404)


def test_unknown_order_is_404(client, admin, buyer):
    assert_error(client.get(f"{API}/orders/99999", headers=admin.headers), 404)
    assert_error(client.post(f"{API}/orders/99999/refund", headers=buyer.headers), 404)


def test_refund_returns_stock_and_pays_from_the_tubes(client, buyer, seller, set_tubes, sales):
    set_tubes({5: 3, 10: 3, 20: 3, 50: 3, 100: 3})

    response = client.post(f"{API}/orders/{sales['second']}/refund", headers=buyer.headers)

    assert response.status_code == 200
    assert response.json == {"orderId": sales["second"], "refunded": 70, "change": [50, 20]}
    assert tubes() == {5: 3, 10: 3, 20: 2, 50: 2, 100: 3}
    assert db.session.get(Product, sales["cola"].id).amount_available == 10 - 3 + 2
    order = db.session.get(Order, sales["second"])
    assert (order.status, order.refunded_amount, order.refund_change) == ("refunded", 70, [50, 20])
    assert order.refunded_at is not None
    assert db.session.query(LedgerEntry).filter_by(order_id=order.id, kind="refund_paid").count() == 1
    seen = client.get(f"{API}/orders/{sales['second']}", headers=buyer.headers).json
    assert seen["status"] == "refunded"
    datetime.fromisoformat(seen["refundedAt"])


def test_refund_uses_fewest_coins_the_tubes_can_pay(client, buyer, set_tubes, sales):
    set_tubes({50: 1, 20: 4, 10: 0})  # 70 = 50 + 20, not 20 * 3 + ...
    response = client.post(f"{API}/orders/{sales['second']}/refund", headers=buyer.headers)
    assert response.json["change"] == [50, 20]
    set_tubes({50: 1, 20: 3})  # 35 cannot be paid with 50s and 20s
    body = assert_error(client.post(f"{API}/orders/{sales['first']}/refund", headers=buyer.headers), 409)
    assert "35" in body["message"]


def test_second_refund_is_409_and_changes_nothing(client, buyer, sales, db_snapshot):
    assert client.post(f"{API}/orders/{sales['first']}/refund", headers=buyer.headers).status_code == 200
    before = db_snapshot()

    body = assert_error(client.post(f"{API}/orders/{sales['first']}/refund", headers=buyer.headers), 409)

    assert "already" in body["message"]
    assert db_snapshot() == before


def test_refund_of_a_non_refundable_product_is_409(client, other_buyer, sales, db_snapshot):
    before = db_snapshot()
    body = assert_error(client.post(f"{API}/orders/{sales['third']}/refund", headers=other_buyer.headers), 409)
    assert "not refundable" in body["message"]
    assert db_snapshot() == before


def test_refund_after_the_window_is_409(client, buyer, sales, db_snapshot):
    db.session.execute(update(Order).where(Order.id == sales["first"])
                       .values(created_at=datetime.now(UTC) - timedelta(seconds=901)))
    db.session.commit()
    before = db_snapshot()

    body = assert_error(client.post(f"{API}/orders/{sales['first']}/refund", headers=buyer.headers), 409)

    assert "15 minutes" in body["message"]
    assert db_snapshot() == before
    # the other order is still inside the window
    assert client.post(f"{API}/orders/{sales['second']}/refund", headers=buyer.headers).status_code == 200


@pytest.mark.parametrize("app_config", [{"REFUND_WINDOW_SECONDS": 0}])
def test_refund_window_comes_from_config(client, buyer, sales, db_snapshot):
    before = db_snapshot()
    assert_error(client.post(f"{API}/orders/{sales['first']}/refund", headers=buyer.headers), 409)
    assert db_snapshot() == before


def test_refund_is_409_when_the_tubes_cannot_pay(client, buyer, set_tubes, sales, db_snapshot):
    set_tubes({100: 5})
    before = db_snapshot()

    body = assert_error(client.post(f"{API}/orders/{sales['first']}/refund", headers=buyer.headers), 409)

    assert "cannot pay" in body["message"]
    assert db_snapshot() == before


def test_refund_of_a_product_taken_off_sale_still_pays(client, buyer, seller, sales):
    client.delete(f"{API}/products/{sales['cola'].id}", headers=seller.headers)
    response = client.post(f"{API}/orders/{sales['first']}/refund", headers=buyer.headers)
    assert response.status_code == 200 and response.json["refunded"] == 35


@pytest.mark.parametrize("who", ["other_buyer", "seller", "other_seller", "admin"])
def test_only_the_buyer_of_the_order_may_refund(client, accounts, sales, db_snapshot, who):
    before = db_snapshot()
    # another buyer's order does not exist for them; sellers and operators may not refund
    status = 404 if who == "other_buyer" else 403
    assert_error(client.post(f"{API}/orders/{sales['first']}/refund", headers=accounts[who].headers), status)
    assert db_snapshot() == before
