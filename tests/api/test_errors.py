"""Errors under /api are JSON in flask-smorest's shape, never HTML, never a traceback."""

import pytest

from tests.api.conftest import API, assert_error


@pytest.mark.parametrize("path", ["/api/nope", "/api/v1/nope", "/api/v1/products/abc", "/api/v1/users/1/extra",
                                  "/api/v2/products"])
def test_unknown_paths_under_api_are_json_404(client, path):
    assert_error(client.get(path), 404)


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("DELETE", "/products", {"GET", "POST"}),
        ("PUT", "/users", {"GET", "POST"}),
        ("GET", "/buy", {"POST"}),
        ("GET", "/auth/login", {"POST"}),
        ("POST", "/machine/coins", {"GET", "PUT"}),
        ("POST", "/products/1", {"GET", "PUT", "PATCH", "DELETE"}),
        ("GET", "/orders/1/refund", {"POST"}),
    ],
)
def test_wrong_method_is_json_405_with_allow(client, method, path, allowed):
    response = client.open(f"{API}{path}", method=method)
    assert_error(response, 405)
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_unexpected_exception_is_a_json_500_without_traceback(app, client):
    def explode():
        raise RuntimeError("secret internals: /etc/passwd")

    app.add_url_rule("/api/v1/test-explode", "test_explode", explode)

    response = client.get("/api/v1/test-explode")

    body = assert_error(response, 500)
    text = response.get_data(as_text=True)
    assert "secret internals" not in text and "RuntimeError" not in text
    assert body == {"code": 500, "status": "Internal Server Error"}


def test_malformed_json_is_a_json_400(client, db_snapshot):
    before = db_snapshot()
    body = assert_error(client.post(f"{API}/users", data='{"username": "ann",', content_type="application/json"),
                        400)
    assert body["errors"]
    assert db_snapshot() == before


@pytest.mark.parametrize("data, content_type", [
    ("username=ann&password=ann-password", "application/x-www-form-urlencoded"),
    ('{"username": "ann", "password": "ann-password"}', "text/plain"),
])
def test_a_body_that_is_not_json_is_refused(client, db_snapshot, data, content_type):
    before = db_snapshot()
    body = assert_error(client.post(f"{API}/users", data=data, content_type=content_type), 422)
    assert "username" in body["errors"]["json"]
    assert db_snapshot() == before


@pytest.mark.parametrize("payload", ["[1, 2]", '"text"', "null", "42"])
def test_json_that_is_not_an_object_is_refused(client, buyer, db_snapshot, payload):
    before = db_snapshot()
    response = client.post(f"{API}/deposit", data=payload, content_type="application/json", headers=buyer.headers)
    assert response.status_code in (400, 422)
    assert_error(response, response.status_code)
    assert db_snapshot() == before


def test_a_body_over_the_limit_is_a_json_413(client, db_snapshot):
    before = db_snapshot()
    big = '{"username": "ann", "password": "' + "x" * 70_000 + '"}'
    assert_error(client.post(f"{API}/users", data=big, content_type="application/json"), 413)
    assert db_snapshot() == before


@pytest.mark.parametrize("path", ["/products/99999999999999999999", "/orders/99999999999999999999",
                                  "/users/99999999999999999999"])
def test_ids_too_large_for_the_database_are_404(client, admin, path):
    assert_error(client.get(f"{API}{path}", headers=admin.headers), 404)


def test_service_errors_carry_field_errors(client, seller):
    client.post(f"{API}/products", json={"productName": "Cola", "cost": 5, "amountAvailable": 1},
                headers=seller.headers)
    body = assert_error(client.post(f"{API}/products", json={"productName": "cola", "cost": 5, "amountAvailable": 1},
                                    headers=seller.headers), 409)
    assert body["message"] == "A product with that name is already on sale"
    assert body["errors"] == {"json": {"productName": ["A product with that name is already on sale"]}}
