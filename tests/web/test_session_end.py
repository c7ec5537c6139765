"""A session that ends mid-task: the machine's live actions say so in place, every login comes back to a page that
answers GET (never the URL a form posted to), and what a form held comes back after logging in, to the same
account only (app.home.resume)."""

import io
import re
from urllib.parse import quote

import pytest
from sqlalchemy import select

from app.extensions import db
from app.home import resume
from app.models import Product
from tests.factories import make_product

LIVE = {"X-Live-Update": "machine"}
PRODUCT = {"product_name": "Rooibos tea", "cost": "0.45", "amount_available": "7", "refundable": "y",
           "low_stock_at": "2", "submit": "Save"}


def end_sessions(client, account) -> None:
    """Every session of the account ends (as "log out everywhere" from another device does)."""
    assert client.post("/api/v1/auth/logout/all", headers=account.headers).status_code == 200


def log_in(client, account, next_page: str | None = None):
    data = {"username": account.username, "password": account.password}
    if next_page is not None:
        data["next"] = next_page
    return client.post("/login", data=data)


def alerts(body: str) -> list[str]:
    return re.findall(r'<div class="alert [^"]*" role="alert"[^>]*>\s*([^<]*)', body)


def kept(client) -> dict | None:
    with client.session_transaction() as cookie:
        return cookie.get(resume.KEPT_KEY)


@pytest.mark.parametrize(("path", "data", "undone"), [
    ("/machine/deposit", {"coin": "50"}, "that coin was not inserted"),
    ("/machine/buy", {"product_id": "1", "amount": "1"}, "nothing was bought"),
    ("/machine/reset", {}, "no coins were returned"),
    ("/orders/1/refund", {}, "nothing was refunded"),
])
def test_a_live_action_after_the_session_ended_says_so_in_place(client, buyer, web_login, db_snapshot, path, data,
                                                                 undone):
    web_login(buyer, follow=True)
    end_sessions(client, buyer)
    before = db_snapshot()
    response = client.post(path, data={**data, "q": "cola", "page": "2"}, headers=LIVE)
    body = response.get_data(as_text=True)
    assert response.status_code == 401 and response.headers["X-Fragment"] == "machine"
    assert response.headers["Cache-Control"] == "no-store"
    assert f"Your session ended; {undone}. " in body
    link = re.search(r'<a href="([^"]+)" id="log-in-again">Log in again</a>', body).group(1).replace("&amp;", "&")
    assert link == "/login?next=" + quote("/machine?q=cola&page=2", safe="")
    assert db_snapshot() == before
    # the login page says nothing more (the machine page said it), and the login comes back to the machine page
    assert alerts(client.get(link).get_data(as_text=True)) == []
    back = log_in(client, buyer, "/machine?q=cola&page=2").headers["Location"]
    assert back == "/machine?q=cola&page=2" and client.get(back).status_code == 200


def test_a_form_sent_after_the_session_ended_logs_in_back_to_the_page_it_was_on(client, buyer, web_login):
    """Without the page's script: Flask-Login's handler named the POST's URL as next (a 405 after logging in)."""
    web_login(buyer, follow=True)
    end_sessions(client, buyer)
    response = client.post("/machine/deposit", data={"coin": "50"},
                           headers={"Referer": "http://localhost/machine?q=cola"})
    assert response.headers["Location"] == "/login?next=" + quote("/machine?q=cola", safe="")
    login_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert alerts(login_page) == ["Your session has expired or was ended; please log in again"]  # one, not two
    assert 'name="next" type="hidden" value="/machine?q=cola"' in login_page
    back = log_in(client, buyer, "/machine?q=cola").headers["Location"]
    assert back == "/machine?q=cola" and client.get(back).status_code == 200


@pytest.mark.parametrize("referrer", [None, "https://evil.example/machine", "http://localhost/machine/deposit"])
def test_without_a_page_of_this_site_to_return_to_the_login_leads_to_the_start_page(client, buyer, web_login,
                                                                                   referrer):
    web_login(buyer, follow=True)
    end_sessions(client, buyer)
    headers = {"Referer": referrer} if referrer else {}
    response = client.post("/machine/deposit", data={"coin": "50"}, headers=headers)
    assert response.headers["Location"] == "/login?next=%2Fhome"


def test_a_page_asked_for_after_the_session_ended_shows_one_alert_and_comes_back(client, seller, web_login):
    web_login(seller, follow=True)
    end_sessions(client, seller)
    response = client.get("/seller/sales?since=2026-01-01")
    assert response.headers["Location"] == "/login?next=" + quote("/seller/sales?since=2026-01-01", safe="")
    assert alerts(client.get(response.headers["Location"]).get_data(as_text=True)) == [
        "Your session has expired or was ended; please log in again"]
    anonymous = client.get("/sessions", follow_redirects=True).get_data(as_text=True)  # still that session's end
    assert alerts(anonymous) == ["Your session has expired or was ended; please log in again"]


def test_a_visitor_who_never_logged_in_is_asked_to_log_in_once(client):
    body = client.get("/machine", follow_redirects=True).get_data(as_text=True)
    assert alerts(body) == ["Please log in to see that page."]


def test_a_sellers_half_typed_product_comes_back_after_logging_in(client, seller, web_login):
    web_login(seller, follow=True)
    end_sessions(client, seller)
    response = client.post("/seller/products/new", data={**PRODUCT, "csrf_token": "the-token"},
                           headers={"Referer": "http://localhost/seller/products/new"})
    assert response.headers["Location"] == "/login?next=%2Fseller%2Fproducts%2Fnew"
    assert db.session.scalars(select(Product)).all() == []
    assert set(kept(client)["fields"]) == {"product_name", "cost", "amount_available", "refundable", "low_stock_at"}
    assert log_in(client, seller, "/seller/products/new").headers["Location"] == "/seller/products/new"
    body = client.get("/seller/products/new").get_data(as_text=True)
    assert "what you typed is back" in body
    for name, value in (("product_name", "Rooibos tea"), ("cost", "0.45"), ("amount_available", "7"),
                        ("low_stock_at", "2")):
        assert re.search(rf'name="{name}"[^>]*value="{re.escape(value)}"', body), name
    assert re.search(r'<input[^>]*checked[^>]*name="refundable"|<input[^>]*name="refundable"[^>]*checked', body)
    again = client.get("/seller/products/new").get_data(as_text=True)  # once
    assert "Rooibos tea" not in again and "what you typed is back" not in again


def test_a_product_being_edited_comes_back_into_that_products_form_only(client, seller, web_login):
    cola = make_product(seller, product_name="Cola", cost=35)
    tea = make_product(seller, product_name="Tea", cost=50)
    web_login(seller, follow=True)
    end_sessions(client, seller)
    client.post(f"/seller/products/{cola.id}/edit", data={**PRODUCT, "product_name": "Cola zero", "cost": "0.40"})
    log_in(client, seller)
    assert "Cola zero" not in client.get(f"/seller/products/{tea.id}/edit").get_data(as_text=True)
    body = client.get(f"/seller/products/{cola.id}/edit").get_data(as_text=True)
    assert 'value="Cola zero"' in body and 'value="0.40"' in body
    assert db.session.get(Product, cola.id).product_name == "Cola"  # kept, not saved


def test_what_one_account_typed_never_shows_for_another(client, seller, other_seller, web_login):
    web_login(seller, follow=True)
    end_sessions(client, seller)
    client.post("/seller/products/new", data=PRODUCT)
    assert kept(client) is not None
    log_in(client, other_seller, "/seller/products/new")  # someone else, on the same browser
    assert kept(client) is None
    assert "Rooibos tea" not in client.get("/seller/products/new").get_data(as_text=True)


def test_nothing_is_kept_for_a_visitor_whose_account_is_unknown_or_after_logging_out(client, seller, web_login):
    client.post("/seller/products/new", data=PRODUCT)  # never logged in
    assert kept(client) is None
    web_login(seller, follow=True)
    client.post("/logout")  # a deliberate log-out: a form sent afterwards belongs to no one
    client.post("/seller/products/new", data=PRODUCT)
    assert kept(client) is None


def test_passwords_tokens_and_files_are_never_kept_and_a_large_form_is_not_kept(client, seller, web_login):
    web_login(seller, follow=True)
    end_sessions(client, seller)
    client.post("/seller/products/new", data={**PRODUCT, "password": "correct-horse-1", "currentPassword": "x",
                                              "api_token": "vm_secret", "csrf_token": "t", "confirm": "x"})
    assert set(kept(client)["fields"]) == {"product_name", "cost", "amount_available", "refundable", "low_stock_at"}
    client.post("/seller/products/new", data={**PRODUCT, "product_name": "x" * (resume.MAX_VALUE + 1)})
    assert kept(client)["fields"]["product_name"] == ["Rooibos tea"]  # the earlier one stays, the large one is not
    client.post("/seller/products/new", data={f"field{n}": "1" for n in range(resume.MAX_FIELDS + 1)})
    assert kept(client)["fields"]["product_name"] == ["Rooibos tea"]
    client.post("/seller/products/1/image", data={"image": (io.BytesIO(b"x"), "a.png")},
                content_type="multipart/form-data")
    assert kept(client)["endpoint"] == "home.product_create"  # an upload is not read


def test_kept_fields_come_back_within_the_hour_only(client, seller, web_login, monkeypatch):
    web_login(seller, follow=True)
    end_sessions(client, seller)
    client.post("/seller/products/new", data=PRODUCT)
    later = resume.time.time() + resume.KEEP_SECONDS + 1
    monkeypatch.setattr(resume.time, "time", lambda: later)
    log_in(client, seller)
    assert kept(client) is None and "Rooibos tea" not in client.get("/seller/products/new").get_data(as_text=True)


def test_a_quantity_typed_on_the_machine_comes_back_at_its_tile(client, buyer, seller, web_login):
    gum = make_product(seller, product_name="Gum", cost=35)
    web_login(buyer, follow=True)
    end_sessions(client, buyer)
    client.post("/machine/buy", data={"product_id": gum.id, "amount": "3", "expected_cost": "35"}, headers=LIVE)
    log_in(client, buyer, "/machine")
    body = client.get("/machine").get_data(as_text=True)
    assert re.search(rf'id="amount-{gum.id}"[^>]*value="3"', body, re.DOTALL)
    assert "is-invalid" not in body  # given back, not judged


def test_units_typed_to_restock_come_back_in_that_products_row(client, seller, web_login):
    cola = make_product(seller, product_name="Cola", cost=35)
    tea = make_product(seller, product_name="Tea", cost=50)
    web_login(seller, follow=True)
    end_sessions(client, seller)
    client.post(f"/seller/products/{tea.id}/restock", data={"units": "24"},
                headers={"Referer": "http://localhost/seller/products"})
    log_in(client, seller, "/seller/products")
    body = client.get("/seller/products").get_data(as_text=True)
    rows = {name: re.search(rf'/seller/products/{product.id}/restock".*?name="units" value="(\d+)"', body,
                            re.DOTALL).group(1) for name, product in (("Cola", cola), ("Tea", tea))}
    assert rows == {"Cola": "10", "Tea": "24"}
    assert db.session.get(Product, tea.id).amount_available == 10  # kept, not added


def test_an_operators_counts_come_back_into_the_form_they_were_typed_in(client, admin, web_login):
    web_login(admin, follow=True)
    end_sessions(client, admin)
    response = client.post("/admin/tubes/refill", data={f"refill-c{coin}": str(coin // 5) for coin in
                                                        (5, 10, 20, 50, 100)},
                           headers={"Referer": "http://localhost/admin/tubes"})
    assert response.headers["Location"] == "/login?next=%2Fadmin%2Ftubes"
    log_in(client, admin, "/admin/tubes")
    body = client.get("/admin/tubes").get_data(as_text=True)
    assert re.search(r'name="refill-c50"[^>]*value="10"', body)
    assert re.search(r'name="refill-c100"[^>]*value="20"', body)
    assert not re.search(r'name="collect-c50"[^>]*value="10"', body)  # the other forms keep their own values
