"""Money and times in the reader's locale and time zone (UTC kept in the CSV and the API), the forms' help texts and
confirmation steps, and sessions that can be told apart and end when idle."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import AuthSession, CoinTube, Order
from app.services import sessions
from tests.factories import deposit_coins, make_product

BERLIN = "Europe/Berlin"
# A summer moment: Berlin is two hours ahead of UTC (CEST)
BOUGHT_AT = datetime(2026, 7, 1, 12, 5, 9, tzinfo=UTC)


def login(client, account, *, time_zone: str | None = None, **headers):
    data = {"username": account.username, "password": account.password}
    if time_zone is not None:
        data["time_zone"] = time_zone
    return client.post("/login", data=data, headers=headers)


@pytest.fixture
def order(client, buyer, seller, set_tubes) -> Order:
    """Buyer's 2 × Cola at 35, paid with €1 at BOUGHT_AT: 30 cents of change."""
    set_tubes({5: 20, 10: 20, 20: 20, 50: 20, 100: 20})
    cola = make_product(seller, product_name="Cola", cost=35)
    deposit_coins(client, buyer, 100)
    reply = client.post("/api/v1/buy", json={"productId": cola.id, "amount": 2}, headers=buyer.headers).json
    db.session.execute(update(Order).where(Order.id == reply["orderId"]).values(created_at=BOUGHT_AT))
    db.session.commit()
    return db.session.get(Order, reply["orderId"])


# ------------------------------------------------------------------ money in the reader's locale


@pytest.mark.parametrize(("languages", "price"), [
    (None, "€0.35"),
    ("en-US,en;q=0.9", "€0.35"),
    ("de-DE,de;q=0.9,en;q=0.8", "0,35\xa0€"),
    ("fr", "0,35\xa0€"),
    ("en;q=0.5, de", "0,35\xa0€"),  # the order of preference, not of writing
    ("de-XX", "0,35\xa0€"),  # an unknown region: its language
    ("xx-YY, *", "€0.35"),  # nothing Babel knows: English
])
def test_prices_are_euros_in_the_readers_locale(client, seller, languages, price):
    make_product(seller, product_name="Cola", cost=35)
    headers = {"Accept-Language": languages} if languages else {}
    body = client.get("/", headers=headers).get_data(as_text=True)
    assert f'<span class="fs-5 fw-bold price">{price}</span>' in body
    assert "¢" not in body


def test_a_long_accept_language_is_read_only_so_far(client, seller):
    """The client writes Accept-Language: only its first entries are looked up, so a long one costs nothing."""
    make_product(seller, product_name="Cola", cost=35)
    header = ",".join(f"x{n}" for n in range(2000)) + ",de"
    assert "€0.35" in client.get("/", headers={"Accept-Language": header}).get_data(as_text=True)


def test_the_operators_totals_and_flash_messages_follow_the_locale(client, admin, set_tubes):
    set_tubes({5: 20, 10: 20, 20: 20, 50: 20, 100: 20})
    login(client, admin)
    german = {"Accept-Language": "de"}
    page = client.get("/admin/tubes", headers=german).get_data(as_text=True)
    assert 'id="tubes-total">37,00\xa0€<' in page
    body = client.post("/admin/tubes/refill", data={"refill-c5": 0, "refill-c10": 0, "refill-c20": 0,
                                                    "refill-c50": 0, "refill-c100": 1000},
                       headers=german, follow_redirects=True).get_data(as_text=True)
    assert "Refilled the tubes with 1.000,00\xa0€." in body


# ------------------------------------------------------------------ times in the reader's time zone


def test_times_are_shown_in_the_browsers_time_zone_and_locale(client, buyer, order):
    login(client, buyer, time_zone=BERLIN, **{"Accept-Language": "de"})
    with client.session_transaction() as cookie:
        assert cookie["time_zone"] == BERLIN
    body = client.get(f"/orders/{order.id}", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "01.07.2026, 14:05:09" in body and "Times are shown in Europe/Berlin." in body
    orders_page = client.get("/orders", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "01.07.2026, 14:05" in orders_page and "12:05" not in orders_page


def test_without_a_time_zone_times_are_utc_in_english(client, buyer, order):
    login(client, buyer)
    body = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "Jul 1, 2026, 12:05:09\u202fPM" in body and "Times are shown in UTC." in body
    assert "(UTC)" not in body and "2026-07-01" not in body


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../../../etc/passwd", "", "europe/berlin"])
def test_a_time_zone_the_database_lacks_is_ignored(client, buyer, order, zone):
    response = login(client, buyer, time_zone=zone)
    assert response.status_code == 302  # the login itself goes through
    with client.session_transaction() as cookie:
        assert "time_zone" not in cookie
    assert "Jul 1, 2026, 12:05:09\u202fPM" in client.get(f"/orders/{order.id}").get_data(as_text=True)


def test_the_csv_and_the_api_keep_utc_whatever_the_page_shows(client, buyer, seller, admin, order):
    recent = datetime.now(UTC).replace(hour=12, minute=5, second=9, microsecond=0) - timedelta(days=1)
    db.session.execute(update(Order).where(Order.id == order.id).values(created_at=recent))
    db.session.commit()
    login(client, admin, time_zone=BERLIN, **{"Accept-Language": "de"})
    page = client.get("/admin/orders", headers={"Accept-Language": "de"}).get_data(as_text=True)
    berlin = recent.astimezone(ZoneInfo(BERLIN))
    assert berlin.strftime("%d.%m.%Y, %H:%M") in page
    rows = list(csv.DictReader(io.StringIO(client.get("/admin/orders.csv").get_data(as_text=True))))
    assert [(r["order"], r["created_at_utc"], r["total_eur"]) for r in rows] == [
        (str(order.id), recent.strftime("%Y-%m-%d %H:%M:%S"), "0.70")]
    api = client.get(f"/api/v1/orders/{order.id}", headers=buyer.headers).json
    assert datetime.fromisoformat(api["createdAt"]) == recent and api["createdAt"].endswith("+00:00")
    assert api["totalSpent"] == 70


# ------------------------------------------------------------------ receipts and coin labels


def test_a_receipt_without_change_says_none_and_no_amount(client, buyer, seller, set_tubes):
    set_tubes({5: 20, 10: 20, 20: 20, 50: 20, 100: 20})
    tea = make_product(seller, product_name="Tea", cost=50)
    deposit_coins(client, buyer, 50)
    order_id = client.post("/api/v1/buy", json={"productId": tea.id}, headers=buyer.headers).json["orderId"]
    login(client, buyer)
    body = client.get(f"/orders/{order_id}").get_data(as_text=True)
    change = re.search(r'<dt class="col-5">Change</dt><dd class="col-7">(.*?)</dd>', body, re.S).group(1)
    assert change.strip() == "none"


def test_coins_are_labelled_without_the_cent_sign(client, buyer, order):
    login(client, buyer)
    receipt = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert 'title="20c"' in receipt and 'title="10c"' in receipt and "¢" not in receipt
    assert "Coins accepted: 5c · 10c · 20c · 50c · €1" in receipt


# ------------------------------------------------------------------ forms: help texts, confirmations


def test_registration_shows_the_password_rules_before_the_first_try(client):
    body = client.get("/register").get_data(as_text=True)
    assert "8-128 characters, and not a common or easy-to-guess password" in body
    assert re.search(r'<input aria-describedby="password-help password-feedback"[^>]*id="password"', body)
    assert 'id="password-feedback" aria-live="polite"' in body
    assert 'data-min-score="2"' in body and 'data-zxcvbn="/static/vendor/zxcvbn/zxcvbn.js"' in body


def test_a_refused_password_keeps_the_rules_in_view_next_to_the_refusal(client, db_snapshot):
    before = db_snapshot()
    body = client.post("/register", data={"username": "newbie", "password": "password1", "confirm": "password1",
                                          "role": "buyer"}).get_data(as_text=True)
    assert "Password is too common or too easy to guess" in body
    assert 'id="password-error"' in body and "8-128 characters, and not a common" in body
    assert re.search(r'aria-describedby="password-help password-error password-feedback"[^>]*aria-invalid="true"',
                     body)
    assert db_snapshot() == before


def test_a_checkbox_help_text_is_a_line_of_its_own_that_describes_it(client, seller):
    login(client, seller)
    body = client.get("/seller/products/new").get_data(as_text=True)
    assert re.search(r'<input aria-describedby="refundable-help" class="form-check-input" id="refundable"', body)
    assert '<div class="form-text" id="refundable-help">Refunds are possible shortly after purchase</div>' in body
    assert "mb-3\" href" not in body  # Cancel has no margin of its own beside Save


def test_log_out_everywhere_asks_first(client, buyer, web_login):
    web_login(buyer)
    page = client.get("/sessions").get_data(as_text=True)
    assert re.search(r'<a class="btn btn-danger" href="/sessions/end-all" id="logout-everywhere">', page)
    confirm = client.get("/sessions/end-all").get_data(as_text=True)
    assert "Log out everywhere?" in confirm and "This ends 2 sessions of your account" in confirm
    assert len(db.session.scalars(select(AuthSession).where(AuthSession.user_id == buyer.id)).all()) == 2
    body = client.post("/sessions/end-all", follow_redirects=True).get_data(as_text=True)
    assert "Logged out everywhere: 2 sessions ended" in body
    assert db.session.scalars(select(AuthSession).where(AuthSession.user_id == buyer.id)).all() == []


def test_collecting_shows_the_amount_and_takes_nothing_until_confirmed(client, admin, set_tubes, db_snapshot):
    set_tubes({5: 30, 10: 20, 20: 20, 50: 20, 100: 25})
    login(client, admin)
    page = client.get("/admin/tubes").get_data(as_text=True)
    assert 'id="collect-preview" aria-live="polite">Collecting takes €5.50 out of the tubes.<' in page
    assert 'data-collect-coin="5" data-tube="30"' in page
    before = db_snapshot()
    confirm = client.post("/admin/tubes/collect", data={f"collect-c{c}": 20 for c in (5, 10, 20, 50, 100)}
                          ).get_data(as_text=True)
    assert "Collect €5.50 into the cash box?" in confirm and 'id="collect-total">€5.50<' in confirm
    assert db_snapshot() == before


def test_a_collection_refuses_an_amount_the_tubes_no_longer_hold(client, admin, set_tubes, db_snapshot):
    """Coins moved between the preview and the confirmation: nothing is taken and the new amount is shown."""
    set_tubes({5: 30, 10: 20, 20: 20, 50: 20, 100: 25})
    login(client, admin)
    keep = {f"collect-c{c}": 20 for c in (5, 10, 20, 50, 100)}
    set_tubes({5: 30, 10: 20, 20: 20, 50: 20, 100: 26})  # a sale paid in €1 meanwhile
    before = db_snapshot()
    body = client.post("/admin/tubes/collect", data={**keep, "collect-expected_cents": 550}).get_data(as_text=True)
    assert "The tubes changed since the preview: collecting now takes €6.50, not €5.50; nothing was collected" in body
    assert "Collect €6.50 into the cash box?" in body and 'name="collect-expected_cents" value="650"' in body
    assert db_snapshot() == before
    client.post("/admin/tubes/collect", data={**keep, "collect-expected_cents": 650})
    db.session.rollback()
    assert {t.coin: t.count for t in db.session.scalars(select(CoinTube))} == dict.fromkeys((5, 10, 20, 50, 100), 20)


# ------------------------------------------------------------------ sessions: network, last active, idle end


def test_the_sessions_page_tells_sessions_apart(client, buyer):
    login(client, buyer, time_zone=BERLIN, **{"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"})
    body = client.get("/sessions").get_data(as_text=True)
    assert '<td data-label="Network" class="network">127.0.0.0/24</td>' in body  # the test client's 127.0.0.1
    assert '<td data-label="Network" class="network">unknown</td>' in body  # the fixture's API token
    assert body.count('data-label="Last active"') == 2
    assert "Each one ends after 2 hours without activity, or 12 hours after it started." in " ".join(body.split())
    assert re.search(r'<button class="btn btn-sm btn-outline-danger text-nowrap" type="submit">Log out<', body)


def _idle(session_id: int, by: timedelta) -> None:
    row = db.session.get(AuthSession, session_id)
    db.session.execute(update(AuthSession).where(AuthSession.id == session_id).values(
        last_seen_at=row.last_seen_at - by, idle_until=row.idle_until - by, created_at=row.created_at - by))
    db.session.commit()


def web_session_id(client) -> int:
    with client.session_transaction() as cookie:
        digest = sessions.hash_token(cookie["auth_token"])
    return db.session.scalar(select(AuthSession.id).where(AuthSession.token_hash == digest))


def test_an_idle_browser_session_ends_with_a_message_on_the_login_page(client, app, buyer):
    login(client, buyer)
    idle = timedelta(seconds=app.config["SESSION_IDLE_TIMEOUT_SECONDS"])
    _idle(web_session_id(client), idle + timedelta(minutes=2))
    response = client.get("/machine", follow_redirects=True)
    assert response.request.path == "/login"
    assert "Your session ended after 2 hours without activity; please log in again" in response.get_data(as_text=True)


def test_a_browser_session_active_within_the_limit_stays(client, app, buyer):
    login(client, buyer)
    idle = timedelta(seconds=app.config["SESSION_IDLE_TIMEOUT_SECONDS"])
    session_id = web_session_id(client)
    for _ in range(3):  # six hours, a page every 110 minutes
        _idle(session_id, idle - timedelta(minutes=10))
        assert client.get("/machine").status_code == 200


def test_an_idle_api_token_is_refused_with_401(client, app, buyer):
    idle = timedelta(seconds=app.config["SESSION_IDLE_TIMEOUT_SECONDS"])
    assert client.get("/api/v1/users/me", headers=buyer.headers).status_code == 200
    _idle(buyer.session_id, idle - timedelta(minutes=1))
    assert client.get("/api/v1/users/me", headers=buyer.headers).status_code == 200  # within the limit
    _idle(buyer.session_id, idle + timedelta(minutes=2))
    response = client.get("/api/v1/users/me", headers=buyer.headers)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.json["message"] == "Your session ended after 2 hours without activity; please log in again"


@pytest.mark.parametrize("app_config", [{"SESSION_IDLE_TIMEOUT_SECONDS": 600}])
def test_the_idle_limit_is_the_configured_one_for_both_kinds_of_session(client, make_account):
    ann = make_account("buyer", "ann", "ann-password")
    client.post("/api/v1/auth/login", json={"username": "ann", "password": "ann-password"})
    client.post("/login", data={"username": "ann", "password": "ann-password"})
    db.session.rollback()
    rows = db.session.scalars(select(AuthSession).where(AuthSession.user_id == ann.id,
                                                        AuthSession.client_network.is_not(None))).all()
    assert sorted(r.kind for r in rows) == ["api", "web"]
    for row in rows:
        assert row.idle_until - row.last_seen_at == timedelta(seconds=600) + sessions.LAST_SEEN_RESOLUTION
    body = client.get("/sessions").get_data(as_text=True)
    assert "Each one ends after 10 minutes without activity" in " ".join(body.split())
