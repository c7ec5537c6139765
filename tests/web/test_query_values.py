"""Values no database column can hold, in a page's query string or form: a NUL character, a day outside
1970-01-01..9998-12-31, an id past its column, a cursor the app never made. Each is refused with a message at
its field (or, for a link's value, a flash), the page answers 200 and nothing changes; never a 500.
The fuzzing of every field with every such value is tests/safety/test_hostile_input.py."""

import base64
import json
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import OperationalError

from app.services import orders
from tests.factories import deposit_coins, make_product

DAY_RULE = "Choose a day from 1970-01-01 to 9998-12-31"
NUL_REFUSED = "Must not contain NUL characters"
ISSUE_CURSOR = "WyJvbGRlciIsIjIwMjYtMDEtMDFUMDA6MDA6MDAiLDkyMjMzNzIwMzY4NTQ3NzU4MDhd"  # id 2**63, from issue 22


def error_at(body: str, name: str) -> str | None:
    """The message shown right after the input named `name`, when that input is marked invalid."""
    match = re.search(rf'<input [^>]*class="[^"]*is-invalid[^"]*"[^>]*name="{name}"[^>]*>\s*'
                      r'<div class="invalid-feedback d-block[^"]*"[^>]*>([^<]*)</div>', body)
    return match.group(1) if match else None


def search_error(body: str) -> str | None:
    """The message under a list's search box, when the box is marked invalid."""
    box = re.search(r'<input class="form-control is-invalid" type="search" name="q"[^>]*'
                    r'aria-describedby="search-error"', body)
    message = re.search(r'<div class="invalid-feedback d-block w-100 text-end" id="search-error">([^<]*)</div>', body)
    return message.group(1) if box and message else None


@pytest.fixture
def sale(client, buyer, seller, set_tubes):
    set_tubes({5: 20, 10: 20, 20: 20, 50: 20, 100: 20})
    cola = make_product(seller, product_name="Cola", cost=35, amount_available=5)
    deposit_coins(client, buyer, 100)
    assert client.post("/api/v1/buy", json={"productId": cola.id}, headers=buyer.headers).status_code == 200
    return cola


@pytest.mark.parametrize("who, path", [(None, "/"), ("buyer", "/machine"), ("admin", "/admin/users")])
def test_a_nul_in_a_search_is_refused_under_the_search_box(client, web_login, buyer, admin, sale, who, path):
    if who:
        web_login({"buyer": buyer, "admin": admin}[who])
    response = client.get(path, query_string={"q": "Co\x00la"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert search_error(body) == NUL_REFUSED
    everyone = client.get(path).get_data(as_text=True)
    assert search_error(everyone) is None  # and an ordinary search is not marked
    if path != "/admin/users":
        assert "Cola" in body  # the list is shown as if nothing had been searched for


def test_a_nul_in_the_operators_seller_filter_is_refused_at_the_field(client, web_login, admin, sale):
    web_login(admin)
    response = client.get("/admin/orders", query_string={"seller": "\x00"})
    assert response.status_code == 200
    assert error_at(response.get_data(as_text=True), "seller") == NUL_REFUSED


@pytest.mark.parametrize("who, path", [("buyer", "/orders"), ("seller", "/seller/sales"), ("admin", "/admin/orders")])
@pytest.mark.parametrize("field, day", [("until", "9999-12-31"), ("until", "0001-01-01"), ("since", "9999-12-31"),
                                        ("since", "0001-01-01"), ("since", "1969-12-31")])
def test_days_outside_the_range_are_refused_at_their_field(client, web_login, buyer, seller, admin, sale,
                                                           who, path, field, day):
    web_login({"buyer": buyer, "seller": seller, "admin": admin}[who])
    response = client.get(path, query_string={field: day})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert error_at(body, field) == DAY_RULE
    assert 'data-label="Order"' not in body  # no list for a range that was refused


@pytest.mark.parametrize("who, path", [("buyer", "/orders"), ("seller", "/seller/sales"), ("admin", "/admin/orders")])
def test_the_first_and_last_days_of_the_range_are_served(client, web_login, buyer, seller, admin, sale, who, path):
    web_login({"buyer": buyer, "seller": seller, "admin": admin}[who])
    today = datetime.now(UTC).date()
    for since, until in (("1970-01-01", "1970-01-01"), ("9998-12-01", "9998-12-31"),
                         (today.isoformat(), today.isoformat())):
        response = client.get(path, query_string={"since": since, "until": until})
        body = response.get_data(as_text=True)
        assert response.status_code == 200 and "is-invalid" not in body, (since, until)
    assert 'data-label="Order"' in body  # today's sale, in the last range asked for


def test_a_range_open_back_to_the_first_day_is_served(client, web_login, seller, sale):
    web_login(seller)
    body = client.get("/seller/sales", query_string={"until": "1970-01-10"}).get_data(as_text=True)
    assert "is-invalid" not in body
    assert 'value="1970-01-10"' in body


@pytest.mark.parametrize("path", ["/orders", "/seller/sales", "/admin/orders"])
@pytest.mark.parametrize("cursor", [
    ISSUE_CURSOR,
    base64.urlsafe_b64encode(json.dumps(["newer", "0001-01-01T00:00:00+05:00", 1]).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps(["older", "2026-01-01T00:00:00+00:00", 0]).encode()).decode(),
], ids=["id past 64 bits", "before year 1 in UTC", "id 0"])
def test_forged_cursors_are_refused(client, web_login, buyer, seller, admin, sale, path, cursor):
    who = {"/orders": buyer, "/seller/sales": seller, "/admin/orders": admin}[path]
    web_login(who)
    response = client.get(path, query_string={"cursor": cursor})
    assert response.status_code == 200
    assert "This cursor is not one the list gave out" in response.get_data(as_text=True)


@pytest.mark.parametrize("who, path", [("buyer", "/orders"), ("admin", "/admin/orders")])
def test_a_product_id_past_its_column_is_refused(client, web_login, buyer, admin, sale, who, path):
    web_login({"buyer": buyer, "admin": admin}[who])
    response = client.get(path, query_string={"product": "99999999999999999999"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'<div class="invalid-feedback d-block[^"]*">No such product</div>', body)
    assert "Product #" not in body


def test_a_history_page_past_every_ledger_id_shows_the_newest(client, web_login, admin, sale):
    web_login(admin)
    response = client.get("/admin/tubes", query_string={"before": "99999999999999999999999"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "That page of the tubes&#39; history does not exist: here is the newest." in body
    assert body.count('data-label="Change"') == client.get("/admin/tubes").get_data(as_text=True).count(
        'data-label="Change"')


@pytest.mark.parametrize("product_id", ["2147483648", "9223372036854775808", "0", "-1"])
def test_buying_a_product_id_past_its_column_is_refused(client, web_login, buyer, sale, db_snapshot, product_id):
    deposit_coins(client, buyer, 100)
    web_login(buyer)
    before = db_snapshot()
    response = client.post("/machine/buy", data={"product_id": product_id, "amount": "1"})
    assert response.status_code == 200
    assert "No such product" in response.get_data(as_text=True)
    assert db_snapshot() == before


@pytest.mark.parametrize("path, page", [("/seller/sales.csv", "/seller/sales"), ("/admin/orders.csv", "/admin/orders")])
@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_a_csv_of_days_outside_the_range_is_refused_before_its_first_byte(client, web_login, seller, admin, sale,
                                                                          path, page, day):
    web_login(seller if path.startswith("/seller") else admin)
    response = client.get(path, query_string={"until": day})
    assert (response.status_code, response.headers["Location"]) == (302, page)
    assert "Content-Disposition" not in response.headers
    followed = client.get(page).get_data(as_text=True)
    assert f"Check the filters: {DAY_RULE}" in followed


@pytest.mark.parametrize("path", ["/seller/sales.csv", "/admin/orders.csv"])
def test_a_csv_whose_first_batch_fails_is_an_error_page_not_a_cut_download(client, web_login, seller, admin, sale,
                                                                          monkeypatch, path):
    """The database dropping out while the first batch is read: a 503 page, not a 200 that ends after its header."""
    def database_gone(*_args, **_kwargs):
        raise OperationalError("SELECT ... FROM orders", {}, Exception("server closed the connection unexpectedly"))

    web_login(seller if path.startswith("/seller") else admin)
    monkeypatch.setattr(orders, "order_page", database_gone)
    response = client.get(path)
    assert response.status_code == 503
    assert response.mimetype == "text/html" and "Content-Disposition" not in response.headers
    assert response.headers["Retry-After"]


def test_a_csv_longer_than_one_batch_downloads_whole(client, web_login, buyer, admin, sale, monkeypatch):
    """The first batch is read before the reply starts, the later ones while it streams: every order, once."""
    for _ in range(4):
        deposit_coins(client, buyer, 50)
        assert client.post("/api/v1/buy", json={"productId": sale.id}, headers=buyer.headers).status_code == 200
    monkeypatch.setattr(orders, "EXPORT_BATCH", 2)
    web_login(admin)
    rows = client.get("/admin/orders.csv").get_data(as_text=True).splitlines()[1:]
    assert len(rows) == 5 and len({row.split(",")[0] for row in rows}) == 5
