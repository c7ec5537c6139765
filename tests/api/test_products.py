"""The catalogue: create, read, replace, patch, delete; filters and pagination."""

from datetime import datetime

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Product
from tests.api.conftest import API, assert_error, pagination
from tests.factories import make_product

PRODUCT_FIELDS = {"id", "productName", "cost", "amountAvailable", "sellerId", "refundable", "hasImage",
                  "createdAt", "updatedAt"}
VALID = {"productName": "Cola", "cost": 35, "amountAvailable": 10}


def row(product_id: int) -> Product:
    db.session.rollback()
    return db.session.get(Product, product_id)


def test_seller_creates_a_product(client, seller):
    response = client.post(f"{API}/products", json={**VALID, "refundable": True}, headers=seller.headers)

    assert response.status_code == 201
    body = response.json
    assert set(body) == PRODUCT_FIELDS
    assert {k: body[k] for k in ("productName", "cost", "amountAvailable", "sellerId", "refundable", "hasImage")} == {
        "productName": "Cola", "cost": 35, "amountAvailable": 10, "sellerId": seller.id, "refundable": True,
        "hasImage": False}
    datetime.fromisoformat(body["createdAt"])
    datetime.fromisoformat(body["updatedAt"])
    product = row(body["id"])
    assert (product.product_name, product.name_key, product.cost, product.amount_available, product.units_stocked,
            product.seller_id, product.refundable, product.on_sale) == ("Cola", "cola", 35, 10, 10, seller.id,
                                                                         True, True)


def test_refundable_defaults_to_false(client, seller):
    response = client.post(f"{API}/products", json=VALID, headers=seller.headers)
    assert response.status_code == 201 and response.json["refundable"] is False


def test_get_product(client, seller):
    product = make_product(seller, product_name="Water", cost=25, amount_available=3)

    response = client.get(f"{API}/products/{product.id}")

    assert response.status_code == 200
    assert set(response.json) == PRODUCT_FIELDS
    assert (response.json["id"], response.json["productName"], response.json["cost"],
            response.json["amountAvailable"], response.json["sellerId"]) == (product.id, "Water", 25, 3, seller.id)


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_unknown_product_is_404(client, seller, method, db_snapshot):
    before = db_snapshot()
    kwargs = {"json": VALID} if method in ("put", "patch") else {}
    assert_error(getattr(client, method)(f"{API}/products/99999", headers=seller.headers, **kwargs), 404)
    assert db_snapshot() == before


def test_duplicate_name_on_sale_is_409_and_free_again_after_delete(client, seller, other_seller, db_snapshot):
    first = client.post(f"{API}/products", json=VALID, headers=seller.headers).json
    before = db_snapshot()

    body = assert_error(client.post(f"{API}/products", json={**VALID, "productName": "  cOLA "},
                                    headers=other_seller.headers), 409)

    assert "productName" in body["errors"]["json"]
    assert db_snapshot() == before
    assert client.delete(f"{API}/products/{first['id']}", headers=seller.headers).status_code == 204
    again = client.post(f"{API}/products", json={**VALID, "productName": "COLA"}, headers=other_seller.headers)
    assert again.status_code == 201 and again.json["productName"] == "COLA"


def test_renaming_to_a_name_on_sale_is_409(client, seller, db_snapshot):
    make_product(seller, product_name="Cola")
    water = make_product(seller, product_name="Water")
    before = db_snapshot()

    assert_error(client.patch(f"{API}/products/{water.id}", json={"productName": "cola"}, headers=seller.headers), 409)
    assert db_snapshot() == before
    # renaming a product to its own name in another case is fine
    same = client.patch(f"{API}/products/{water.id}", json={"productName": "WATER"}, headers=seller.headers)
    assert same.status_code == 200 and same.json["productName"] == "WATER"


BAD_FIELDS = [
    ({"cost": 0}, "cost"),
    ({"cost": -5}, "cost"),
    ({"cost": 3}, "cost"),
    ({"cost": 37}, "cost"),
    ({"cost": 100_005}, "cost"),
    ({"cost": "35"}, "cost"),
    ({"cost": 35.0}, "cost"),
    ({"cost": True}, "cost"),
    ({"cost": None}, "cost"),
    ({"amountAvailable": -1}, "amountAvailable"),
    ({"amountAvailable": 10_001}, "amountAvailable"),
    ({"amountAvailable": False}, "amountAvailable"),
    ({"amountAvailable": 1.5}, "amountAvailable"),
    ({"amountAvailable": 2**70}, "amountAvailable"),
    ({"productName": ""}, "productName"),
    ({"productName": "   "}, "productName"),
    ({"productName": "n" * 65}, "productName"),
    ({"productName": 42}, "productName"),
    ({"productName": "nul\x00"}, "productName"),
    ({"refundable": "yes"}, "refundable"),
    ({"refundable": 1}, "refundable"),
    ({"sellerId": 1}, "sellerId"),
    ({"id": 5}, "id"),
    ({"onSale": False}, "onSale"),
]


@pytest.mark.parametrize("change, field", BAD_FIELDS)
def test_create_rejects_invalid_fields(client, seller, db_snapshot, change, field):
    before = db_snapshot()
    body = assert_error(client.post(f"{API}/products", json={**VALID, **change}, headers=seller.headers), 422)
    assert field in body["errors"]["json"]
    assert db_snapshot() == before


@pytest.mark.parametrize("change, field", BAD_FIELDS)
def test_patch_rejects_invalid_fields(client, seller, db_snapshot, change, field):
    product = make_product(seller)
    before = db_snapshot()
    body = assert_error(client.patch(f"{API}/products/{product.id}", json=change, headers=seller.headers), 422)
    assert field in body["errors"]["json"]
    assert db_snapshot() == before


@pytest.mark.parametrize("missing", ["productName", "cost", "amountAvailable"])
def test_create_and_put_need_every_required_field(client, seller, db_snapshot, missing):
    product = make_product(seller)
    payload = {k: v for k, v in VALID.items() if k != missing}
    before = db_snapshot()
    assert missing in assert_error(client.post(f"{API}/products", json=payload, headers=seller.headers),
                                   422)["errors"]["json"]
    assert missing in assert_error(client.put(f"{API}/products/{product.id}", json=payload, headers=seller.headers),
                                   422)["errors"]["json"]
    assert db_snapshot() == before


@pytest.mark.parametrize("cost, stock", [(5, 0), (100_000, 10_000)])
def test_bounds_are_accepted(client, seller, cost, stock):
    response = client.post(f"{API}/products", json={"productName": "Edge", "cost": cost, "amountAvailable": stock},
                           headers=seller.headers)
    assert response.status_code == 201 and (response.json["cost"], response.json["amountAvailable"]) == (cost, stock)


def test_put_replaces_every_field(client, seller):
    product = make_product(seller, product_name="Cola", cost=35, amount_available=10, refundable=True)

    response = client.put(f"{API}/products/{product.id}", json={"productName": "Cola Zero", "cost": 40,
                                                                  "amountAvailable": 4}, headers=seller.headers)

    assert response.status_code == 200
    assert set(response.json) == PRODUCT_FIELDS
    assert (response.json["productName"], response.json["cost"], response.json["amountAvailable"],
            response.json["refundable"], response.json["sellerId"]) == ("Cola Zero", 40, 4, False, seller.id)
    stored = row(product.id)
    assert (stored.product_name, stored.name_key, stored.cost, stored.amount_available, stored.units_stocked,
            stored.refundable) == ("Cola Zero", "cola zero", 40, 4, 4, False)


def test_patch_changes_only_the_fields_sent(client, seller):
    product = make_product(seller, product_name="Cola", cost=35, amount_available=10, refundable=True)

    response = client.patch(f"{API}/products/{product.id}", json={"amountAvailable": 15}, headers=seller.headers)

    assert response.status_code == 200
    assert (response.json["productName"], response.json["cost"], response.json["amountAvailable"],
            response.json["refundable"]) == ("Cola", 35, 15, True)
    stored = row(product.id)
    assert (stored.cost, stored.amount_available, stored.units_stocked) == (35, 15, 15)


def test_delete_takes_the_product_off_sale(client, seller, db_snapshot):
    product = make_product(seller)

    response = client.delete(f"{API}/products/{product.id}", headers=seller.headers)

    assert response.status_code == 204 and response.data == b""
    assert row(product.id).on_sale is False
    assert_error(client.get(f"{API}/products/{product.id}"), 404)
    assert client.get(f"{API}/products").json == []
    before = db_snapshot()
    assert_error(client.delete(f"{API}/products/{product.id}", headers=seller.headers), 404)
    assert_error(client.patch(f"{API}/products/{product.id}", json={"cost": 5}, headers=seller.headers), 404)
    assert db_snapshot() == before


def test_catalogue_pages_with_x_pagination(client, seller):
    made = [make_product(seller, product_name=f"Item {n:02}") for n in range(25)]

    response = client.get(f"{API}/products", query_string={"page": 2, "page_size": 10})

    assert response.status_code == 200
    assert [p["id"] for p in response.json] == [p.id for p in made[10:20]]
    assert all(set(p) == PRODUCT_FIELDS for p in response.json)
    assert pagination(response) == {"total": 25, "total_pages": 3, "first_page": 1, "last_page": 3, "page": 2,
                                    "previous_page": 1, "next_page": 3}
    last = client.get(f"{API}/products", query_string={"page": 3, "page_size": 10})
    assert len(last.json) == 5 and "next_page" not in pagination(last)
    default = client.get(f"{API}/products")
    assert len(default.json) == 20 and pagination(default)["total_pages"] == 2


@pytest.mark.parametrize("query", [{"page_size": 101}, {"page_size": 0}, {"page": 0}, {"page": "x"},
                                   {"sellerId": "abc"}, {"sellerId": 0}, {"sellerId": 2**40}, {"inStock": "maybe"},
                                   {"q": "q" * 65}, {"q": "nul\x00"}])
def test_catalogue_rejects_bad_query(client, query):
    assert_error(client.get(f"{API}/products", query_string=query), 422)


def test_catalogue_filters(client, seller, other_seller):
    cola = make_product(seller, product_name="Cola", amount_available=5)
    empty = make_product(seller, product_name="Diet Cola", amount_available=0)
    water = make_product(other_seller, product_name="Water", amount_available=1)
    gone = make_product(seller, product_name="Old Cola")
    client.delete(f"{API}/products/{gone.id}", headers=seller.headers)

    def ids(**query):
        response = client.get(f"{API}/products", query_string=query)
        assert response.status_code == 200
        assert pagination(response)["total"] == len(response.json)
        return [p["id"] for p in response.json]

    assert ids() == [cola.id, empty.id, water.id]
    assert ids(sellerId=seller.id) == [cola.id, empty.id]
    assert ids(sellerId=other_seller.id) == [water.id]
    assert ids(inStock="true") == [cola.id, water.id]
    assert ids(inStock="false") == [empty.id]
    assert ids(q="COLA") == [cola.id, empty.id]
    assert ids(q="diet", inStock="false", sellerId=seller.id) == [empty.id]
    assert ids(q="nothing") == []


def test_search_treats_percent_and_underscore_literally(client, seller):
    percent = make_product(seller, product_name="50% off")
    make_product(seller, product_name="500 off")
    under = make_product(seller, product_name="a_b")
    make_product(seller, product_name="axb")

    assert [p["id"] for p in client.get(f"{API}/products", query_string={"q": "%"}).json] == [percent.id]
    assert [p["id"] for p in client.get(f"{API}/products", query_string={"q": "0%"}).json] == [percent.id]
    assert [p["id"] for p in client.get(f"{API}/products", query_string={"q": "a_b"}).json] == [under.id]
    assert [p["id"] for p in client.get(f"{API}/products", query_string={"q": "_"}).json] == [under.id]


def test_units_stocked_follow_stock_changes(client, seller):
    product = make_product(seller, amount_available=10)
    client.patch(f"{API}/products/{product.id}", json={"amountAvailable": 4}, headers=seller.headers)
    stored = row(product.id)
    assert (stored.amount_available, stored.units_stocked) == (4, 4)
    assert db.session.scalar(select(Product.on_sale).where(Product.id == product.id)) is True
