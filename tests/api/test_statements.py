"""What each hot request sends to the database: the token check on every signed-in request, the
buy's statements, nothing after a COMMIT."""

import json

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuthSession
from tests.factories import deposit_coins, make_product
from tests.sqltrace import recorded_sql

API = "/api/v1"


@pytest.fixture
def statements(app):
    """The SQL statements the app sends while the test runs (a list, filled in place)."""
    with recorded_sql(db.engine) as seen:
        yield seen


def sql(statements: list[str]) -> list[str]:
    return [s for s in statements if not s.lstrip().upper().startswith(("BEGIN", "PRAGMA", "COMMIT", "ROLLBACK"))]


def test_catalogue_pages_filters_and_counts(client, seller, other_seller):
    for i in range(5):
        make_product(seller, product_name=f"Snack {i}", cost=35, amount_available=i)
    make_product(other_seller, product_name="Other", cost=35, amount_available=1)

    second = client.get(f"{API}/products?page=2&page_size=2&sellerId={seller.id}&inStock=true")
    beyond = client.get(f"{API}/products?page=9&page_size=2&q=snack")

    assert [p["productName"] for p in second.json] == ["Snack 3", "Snack 4"]
    assert json.loads(second.headers["X-Pagination"]) == {
        "total": 4, "total_pages": 2, "first_page": 1, "last_page": 2, "page": 2, "previous_page": 1}
    assert beyond.status_code == 200 and beyond.json == []
    assert json.loads(beyond.headers["X-Pagination"])["total"] == 5


def test_every_signed_in_request_checks_its_token_in_one_query_and_writes_nothing(client, buyer, statements):
    """No cache between a token and the database: /users/me is the token check itself, every time."""
    db.session.rollback()
    seen_before = db.session.scalar(select(AuthSession.last_seen_at).where(AuthSession.id == buyer.session_id))
    for _ in range(3):
        statements.clear()
        response = client.get(f"{API}/users/me", headers=buyer.headers)
        assert response.status_code == 200
        assert (response.json["id"], response.json["username"], response.json["role"], response.json["deposit"]) == (
            buyer.id, buyer.username, "buyer", 0)
        (check,) = sql(statements)
        assert "auth_sessions" in check and "JOIN users" in check
    db.session.rollback()
    assert db.session.scalar(select(AuthSession.last_seen_at).where(AuthSession.id == buyer.session_id)) == seen_before


def test_a_buy_is_one_transaction_and_nothing_is_read_after_its_commit(client, buyer, seller, set_tubes, statements):
    set_tubes({5: 10, 10: 10, 20: 10, 50: 10, 100: 10})
    product_id = make_product(seller, product_name="Cola", cost=35, amount_available=3).id
    deposit_coins(client, buyer, 100)
    statements.clear()

    response = client.post(f"{API}/buy", json={"productId": product_id, "amount": 1}, headers=buyer.headers)

    assert response.status_code == 200
    assert response.json == {"orderId": response.json["orderId"], "product": {"id": product_id, "productName": "Cola",
                             "cost": 35}, "amount": 1, "totalSpent": 35, "change": [50, 10, 5], "deposit": 0}
    assert statements[-1] == "COMMIT"  # the reply was dumped before it: nothing is re-read after the sale
    begin = max(i for i, s in enumerate(statements[:-1]) if s in ("COMMIT", "ROLLBACK")) + 1
    writes = [target(s) for s in sql(statements[begin:]) if s.split()[0].upper() in ("UPDATE", "INSERT", "DELETE")]
    # the rows every buyer queues on last: the tubes, then the seller's and everyone's sales (one statement)
    assert writes == ["UPDATE products", "UPDATE users", "INSERT orders", "INSERT ledger_entries", "UPDATE coin_tubes",
                      "INSERT sales_periods"]


def target(statement: str) -> str:
    """"UPDATE products", "INSERT orders": what a write statement does to which table."""
    words = statement.split()
    return f"{words[0].upper()} {words[2] if words[0].upper() == 'INSERT' else words[1]}"
