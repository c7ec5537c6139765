"""Refunds the buyer can find: a Refund action in the order lists while the window is open, with its end shown; a
confirmation step; and the buyer stays on the page they came from."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Order, Product, User
from tests.factories import deposit_coins, make_product

LIVE = {"X-Live-Update": "machine"}


@pytest.fixture
def apple_order(client, buyer, seller, set_tubes):
    """The buyer bought an apple (50, refundable) with a 50-cent coin; the tubes can pay it back."""
    set_tubes({5: 5, 10: 5, 20: 5, 50: 5})
    apple = make_product(seller, product_name="Apple", cost=50, refundable=True, amount_available=4)
    deposit_coins(client, buyer, 50)
    assert client.post("/api/v1/buy", json={"productId": apple.id}, headers=buyer.headers).status_code == 200
    return db.session.scalar(select(Order))


def confirm_form_next(body: str) -> str:
    return re.search(r'name="next" type="hidden" value="([^"]*)"', body).group(1).replace("&amp;", "&")


def test_the_order_list_offers_a_refund_until_the_window_closes(client, buyer, seller, web_login, apple_order):
    coffee = make_product(seller, product_name="Coffee", cost=50, refundable=False)
    deposit_coins(client, buyer, 50)
    client.post("/api/v1/buy", json={"productId": coffee.id}, headers=buyer.headers)
    web_login(buyer)
    body = client.get("/orders?status=paid").get_data(as_text=True)
    with client.application.test_request_context():  # the reader's locale and zone: English and UTC here
        until = client.application.jinja_env.filters["datetime"](apple_order.created_at + timedelta(seconds=900))
    link = f'href="/orders/{apple_order.id}/refund?next=/orders?status%3Dpaid" id="refund-{apple_order.id}">Refund</a>'
    assert link in body and f"Refundable until {until}" in body
    assert body.count(">Refund</a>") == 1  # not the coffee: not refundable


@pytest.mark.parametrize("app_config", [{"REFUND_WINDOW_SECONDS": 0}])
def test_no_refund_is_offered_once_the_window_has_closed(client, buyer, web_login, apple_order, db_snapshot):
    web_login(buyer)
    assert ">Refund</a>" not in client.get("/orders").get_data(as_text=True)
    assert ">Refund</a>" not in client.get(f"/orders/{apple_order.id}").get_data(as_text=True)
    before = db_snapshot()
    response = client.get(f"/orders/{apple_order.id}/refund?next=/orders", follow_redirects=True)
    assert response.request.path == "/orders"
    assert "Refunds are possible for 0 seconds after purchase only" in response.get_data(as_text=True)
    assert db_snapshot() == before


def test_a_refund_from_the_order_list_asks_first_and_comes_back_to_the_list(client, buyer, web_login, apple_order):
    web_login(buyer)
    page = client.get(f"/orders/{apple_order.id}/refund?next=/orders?status%3Dpaid")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and f"Refund order #{apple_order.id}?" in body and "Refund €0.50" in body
    assert db.session.get(Order, apple_order.id).status == "paid"  # asking changed nothing
    assert confirm_form_next(body) == "/orders?status=paid"
    assert 'href="/orders?status=paid">Keep it</a>' in body.replace("&amp;", "&")
    done = client.post(f"/orders/{apple_order.id}/refund", data={"next": "/orders?status=paid"})
    assert done.headers["Location"] == "/orders?status=paid"
    listed = client.get("/orders").get_data(as_text=True)
    assert f"Order #{apple_order.id} refunded: €0.50 paid back (50c)." in listed
    db.session.expire_all()
    assert db.session.get(Order, apple_order.id).status == "refunded"
    assert db.session.get(Product, apple_order.product_id).amount_available == 4


def test_a_refund_from_the_receipt_comes_back_to_the_receipt_showing_it(client, buyer, web_login, apple_order):
    web_login(buyer)
    receipt = client.get(f"/orders/{apple_order.id}").get_data(as_text=True)
    assert f'href="/orders/{apple_order.id}/refund?next=/orders/{apple_order.id}"' in receipt
    assert "Refundable until" in receipt
    done = client.post(f"/orders/{apple_order.id}/refund", data={"next": f"/orders/{apple_order.id}"},
                       follow_redirects=True)
    body = done.get_data(as_text=True)
    assert done.request.path == f"/orders/{apple_order.id}"
    assert f"Order #{apple_order.id} refunded" in body
    assert re.search(r'id="refund-change">\s*<span class="coins"><span class="coin coin-50"', body)
    assert ">Refund</a>" not in body


def test_a_refund_confirmed_on_the_machine_page_without_its_script_shows_the_card_there(
        client, buyer, web_login, apple_order):
    web_login(buyer)
    machine = client.get("/machine?q=app").get_data(as_text=True)
    assert f'href="/orders/{apple_order.id}/refund?next=/machine?q%3Dapp"' in machine
    assert f'id="confirm-refund-{apple_order.id}" method="post"' in machine and "data-live-form hidden" in machine
    body = client.get(f"/orders/{apple_order.id}/refund?next=/machine?q%3Dapp").get_data(as_text=True)
    done = client.post(f"/orders/{apple_order.id}/refund", data={"next": confirm_form_next(body)})
    assert done.headers["Location"] == "/machine?q=app"
    assert "Refund of Apple" in client.get(done.headers["Location"]).get_data(as_text=True)


def test_a_refund_confirmed_in_place_answers_with_the_machines_live_parts(client, buyer, web_login, apple_order):
    web_login(buyer)
    response = client.post(f"/orders/{apple_order.id}/refund", data={"q": "app"}, headers=LIVE)
    body = response.get_data(as_text=True)
    assert response.headers["X-Fragment"] == "machine" and "Refund of Apple" in body
    assert f"Order #{apple_order.id} refunded: €0.50 paid back (50c)." in body


def test_a_refund_never_leads_to_another_site(client, buyer, web_login, apple_order):
    web_login(buyer)
    body = client.get(f"/orders/{apple_order.id}/refund?next=https://evil.example/").get_data(as_text=True)
    assert confirm_form_next(body) == "/orders"
    done = client.post(f"/orders/{apple_order.id}/refund", data={"next": "//evil.example/"})
    assert done.headers["Location"] == "/orders"


def test_a_refused_refund_is_said_on_the_page_the_buyer_came_from(client, buyer, web_login, apple_order, set_tubes,
                                                                  db_snapshot):
    set_tubes({100: 5})  # nothing to pay 50 back with
    web_login(buyer)
    before = db_snapshot()
    done = client.post(f"/orders/{apple_order.id}/refund", data={"next": "/orders"}, follow_redirects=True)
    assert done.request.path == "/orders"
    assert ("The machine cannot pay €0.50 back right now, so nothing was refunded: try again later or ask the "
            "operator") in done.get_data(as_text=True)
    assert db_snapshot() == before


def test_only_the_buyer_sees_the_confirmation(client, other_buyer, seller, web_login, apple_order):
    web_login(other_buyer)
    assert client.get(f"/orders/{apple_order.id}/refund").status_code == 404
    web_login(seller)
    assert client.get(f"/orders/{apple_order.id}/refund").status_code == 403
    assert db.session.get(User, other_buyer.id).deposit == 0


def test_times_are_shown_through_the_datetime_filter(app):
    with app.test_request_context():
        shown = app.jinja_env.filters["datetime"](datetime(2026, 12, 6, 14, 5, 30, tzinfo=UTC))
    assert shown == "Dec 6, 2026, 2:05\u202fPM"
