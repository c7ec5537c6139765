"""The OpenAPI document and the self-hosted Swagger UI."""

import re

import pytest

PUBLIC_OPERATIONS = {
    ("post", "/api/v1/users"),
    ("post", "/api/v1/auth/login"),
    ("get", "/api/v1/products"),
    ("get", "/api/v1/products/{product_id}"),
}
PROTECTED_OPERATIONS = {
    ("get", "/api/v1/users"), ("get", "/api/v1/users/me"), ("get", "/api/v1/users/{user_id}"),
    ("patch", "/api/v1/users/{user_id}"), ("delete", "/api/v1/users/{user_id}"),
    ("post", "/api/v1/auth/logout"), ("post", "/api/v1/auth/logout/all"), ("get", "/api/v1/auth/sessions"),
    ("delete", "/api/v1/auth/sessions/{session_id}"), ("post", "/api/v1/products"),
    ("put", "/api/v1/products/{product_id}"), ("patch", "/api/v1/products/{product_id}"),
    ("delete", "/api/v1/products/{product_id}"), ("post", "/api/v1/deposit"), ("get", "/api/v1/deposit"),
    ("post", "/api/v1/buy"), ("post", "/api/v1/reset"), ("get", "/api/v1/orders"),
    ("get", "/api/v1/orders/{order_id}"), ("post", "/api/v1/orders/{order_id}/refund"),
    ("get", "/api/v1/machine/coins"), ("put", "/api/v1/machine/coins"),
}
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture
def spec(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.is_json
    return response.json


def operations(spec):
    return {(method, path): op for path, item in spec["paths"].items() for method, op in item.items()
            if method in HTTP_METHODS}


def test_bearer_scheme_is_declared(spec):
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "opaque"}


def test_every_contract_operation_is_documented(spec):
    assert PUBLIC_OPERATIONS | PROTECTED_OPERATIONS <= set(operations(spec))


@pytest.mark.parametrize("key", sorted(PROTECTED_OPERATIONS))
def test_protected_operations_require_the_bearer_token(spec, key):
    assert operations(spec)[key]["security"] == [{"bearerAuth": []}]


@pytest.mark.parametrize("key", sorted(PUBLIC_OPERATIONS))
def test_public_operations_need_no_token(spec, key):
    assert not operations(spec)[key].get("security")


def test_paginated_lists_document_the_x_pagination_header(spec):
    for path in ("/api/v1/products", "/api/v1/orders", "/api/v1/users"):
        headers = spec["paths"][path]["get"]["responses"]["200"]["headers"]
        assert headers["X-Pagination"]["schema"] == {"type": "string"}


def test_contract_field_names_are_in_the_schemas(spec):
    text = str(spec["components"]["schemas"])
    for name in ("createdAt", "productName", "amountAvailable", "sellerId", "totalSpent", "orderId",
                 "activeSessions", "tokenType", "expiresAt", "currentPassword", "lastSeenAt", "refundedAt"):
        assert f"'{name}'" in text, name


def test_swagger_ui_is_served_from_local_assets_only(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "/api/openapi.json" in html
    referenced = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert any(ref.endswith("swagger-ui-bundle.js") for ref in referenced)
    assert not [ref for ref in referenced if re.match(r"(?i)(https?:)?//", ref)]
    assert not re.search(r"(?i)https?://[^\s\"']*(unpkg|jsdelivr|cdnjs|cloudflare)", html)


def test_swagger_ui_assets_are_served(client):
    html = client.get("/api/docs/").get_data(as_text=True)
    for ref in re.findall(r"""(?:src|href)\s*=\s*["']([^"']+\.(?:js|css))["']""", html):
        url = ref if ref.startswith("/") else f"/api/docs/{ref.removeprefix('./')}"
        with client.get(url) as asset:
            assert asset.status_code == 200, url
    with client.get("/api/docs/swagger-ui-bundle.js") as bundle:
        assert bundle.status_code == 200
        assert b"SwaggerUIBundle" in bundle.data
