"""The benchmark's hot paths (bench/README.md) keep the API contract and their statement budget."""

import json

import pytest
from sqlalchemy import select

from app.api.v1.schemas import ProductSchema
from app.extensions import db
from app.models import AuthSession, Product
from tests.factories import deposit_coins, make_product
from tests.sqltrace import recorded_sql

API = "/api/v1"


@pytest.fixture
def statements(app):
    """The SQL statements the app sends while the test runs (a list, filled in place)."""
    with recorded_sql(db.engine) as seen:
        yield seen


def test_lean_catalogue_is_what_product_schema_dumps(client, seller, other_seller):
    make_product(seller, product_name="Cola", cost=35, amount_available=3, refundable=True)
    with_image = make_product(other_seller, product_name="Water", cost=25, amount_available=0)
    orphan = make_product(seller, product_name="Tea", cost=50, amount_available=9)
    make_product(seller, product_name="Gone", cost=5, amount_available=1, on_sale=False)
    db.session.execute(Product.__table__.update().where(Product.id == with_image.id).values(image_mime="image/png"))
    db.session.execute(Product.__table__.update().where(Product.id == orphan.id).values(seller_id=None))
    db.session.commit()

    response = client.get(f"{API}/products?page_size=20")

    assert response.status_code == 200
    db.session.expire_all()
    on_sale = db.session.scalars(select(Product).where(Product.on_sale.is_(True)).order_by(Product.id)).all()
    assert response.json == json.loads(json.dumps(ProductSchema(many=True).dump(on_sale)))
    assert [p["hasImage"] for p in response.json] == [False, True, False]
    assert response.json[2]["sellerId"] is None
    assert json.loads(response.headers["X-Pagination"]) == {
        "total": 3, "total_pages": 1, "first_page": 1, "last_page": 1, "page": 1}


def test_lean_catalogue_pages_filters_and_counts(client, seller, other_seller):
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


def test_catalogue_page_is_one_statement(client, seller, statements):
    make_product(seller, product_name="Cola", cost=35, amount_available=3)

    assert client.get(f"{API}/products").status_code == 200

    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


def _sql(statements: list[str]) -> list[str]:
    return [s for s in statements if not s.lstrip().upper().startswith(("BEGIN", "PRAGMA"))]


def test_signed_in_read_needs_no_write_and_no_sql_once_cached(client, buyer, statements):
    """First sight of a token in a worker: the token join (again once its user's versions are read,
    so the check can be stored) and the user row; from then on no SQL at all, and never a write."""
    db.session.rollback()
    seen_before = db.session.scalar(select(AuthSession.last_seen_at).where(AuthSession.id == buyer.session_id))
    counts = []
    for _ in range(3):
        statements.clear()
        response = client.get(f"{API}/users/me", headers=buyer.headers)
        assert response.status_code == 200
        assert (response.json["id"], response.json["username"], response.json["role"]) == (
            buyer.id, buyer.username, "buyer")
        counts.append(len(_sql(statements)))

    assert counts == [3, 0, 0]
    db.session.rollback()
    assert db.session.scalar(select(AuthSession.last_seen_at).where(AuthSession.id == buyer.session_id)) == seen_before


@pytest.mark.parametrize("path", ["/products?page_size=20", "/users/me"])
def test_a_cached_read_creates_no_database_session(client, buyer, seller, path):
    """A session made only to ask whether it has a transaction open cost a tenth of a warm read."""
    make_product(seller, product_name="Cola", cost=35, amount_available=3)
    first = client.get(f"{API}{path}", headers=buyer.headers)
    db.session.remove()

    again = client.get(f"{API}{path}", headers=buyer.headers)

    assert again.status_code == 200 and again.json == first.json
    assert not db.session.registry.has()


@pytest.mark.parametrize("app_config", [{"CACHE_VERSIONS": None}])
def test_signed_in_read_without_cache_is_two_reads_and_no_write(client, buyer, statements):
    statements.clear()

    response = client.get(f"{API}/users/me", headers=buyer.headers)

    assert response.status_code == 200 and response.json["id"] == buyer.id
    sql = _sql(statements)
    assert len(sql) == 2 and "auth_sessions" in sql[0] and "FROM users" in sql[1]
    assert not [s for s in statements if s.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))]


def test_buy_reply_is_built_inside_the_transaction(client, buyer, seller, set_tubes, statements):
    set_tubes({5: 10, 10: 10, 20: 10, 50: 10, 100: 10})
    product = make_product(seller, product_name="Cola", cost=35, amount_available=3)
    deposit_coins(client, buyer, 100)
    statements.clear()

    response = client.post(f"{API}/buy", json={"productId": product.id, "amount": 1}, headers=buyer.headers)

    assert response.status_code == 200
    assert response.json == {"orderId": response.json["orderId"], "product": {"id": product.id, "productName": "Cola",
                             "cost": 35}, "amount": 1, "totalSpent": 35, "change": [50, 10, 5], "deposit": 0}
    commits = [i for i, s in enumerate(statements) if s.strip().upper() == "COMMIT"]
    # nothing is re-read after the purchase commits (the reply was dumped before it)
    assert not commits or all(s.strip().upper() in ("COMMIT", "ROLLBACK") for s in statements[commits[-1]:])
