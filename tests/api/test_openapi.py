"""The OpenAPI document and the self-hosted Swagger UI."""

import copy
import re

import jsonschema_rs
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
    ("post", "/api/v1/buy"), ("post", "/api/v1/reset"), ("get", "/api/v1/orders"), ("get", "/api/v1/orders/totals"),
    ("get", "/api/v1/orders/{order_id}"), ("post", "/api/v1/orders/{order_id}/refund"),
    ("get", "/api/v1/machine/coins"), ("put", "/api/v1/machine/coins"),
}
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}
# Generated clients name their functions after these (buy_product.sync(...)): renaming one breaks them.
OPERATION_IDS = {
    ("post", "/api/v1/users"): "registerUser",
    ("get", "/api/v1/users"): "listUsers",
    ("get", "/api/v1/users/me"): "getCurrentUser",
    ("get", "/api/v1/users/{user_id}"): "getUser",
    ("patch", "/api/v1/users/{user_id}"): "changePassword",
    ("delete", "/api/v1/users/{user_id}"): "deleteUser",
    ("post", "/api/v1/auth/login"): "login",
    ("post", "/api/v1/auth/logout"): "logout",
    ("post", "/api/v1/auth/logout/all"): "logoutEverywhere",
    ("get", "/api/v1/auth/sessions"): "listSessions",
    ("delete", "/api/v1/auth/sessions/{session_id}"): "endSession",
    ("get", "/api/v1/products"): "listProducts",
    ("post", "/api/v1/products"): "createProduct",
    ("get", "/api/v1/products/{product_id}"): "getProduct",
    ("put", "/api/v1/products/{product_id}"): "replaceProduct",
    ("patch", "/api/v1/products/{product_id}"): "updateProduct",
    ("delete", "/api/v1/products/{product_id}"): "deleteProduct",
    ("get", "/api/v1/products/{product_id}/image"): "getProductImage",
    ("put", "/api/v1/products/{product_id}/image"): "uploadProductImage",
    ("post", "/api/v1/deposit"): "insertCoin",
    ("get", "/api/v1/deposit"): "getDeposit",
    ("post", "/api/v1/buy"): "buyProduct",
    ("post", "/api/v1/reset"): "resetDeposit",
    ("get", "/api/v1/orders"): "listOrders",
    ("get", "/api/v1/orders/totals"): "getOrderTotals",
    ("get", "/api/v1/orders/{order_id}"): "getOrder",
    ("post", "/api/v1/orders/{order_id}/refund"): "refundOrder",
    ("get", "/api/v1/machine/coins"): "getCoinTubes",
    ("put", "/api/v1/machine/coins"): "setCoinTubes",
}
MONEY_OPERATIONS = {"insertCoin", "buyProduct", "resetDeposit", "refundOrder", "deleteUser"}
ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture
def spec(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.is_json
    return response.json


def operations(spec):
    return {(method, path): op for path, item in spec["paths"].items() for method, op in item.items()
            if method in HTTP_METHODS}


def resolve(spec, node):
    """`node` with every $ref replaced by what it points to (the document has no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(spec, target)
        return {key: resolve(spec, value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(spec, item) for item in node]
    return node


def as_json_schema(schema):
    """An OpenAPI 3.0 schema as JSON Schema draft 4: `nullable: true` becomes a "null" type."""
    schema = copy.deepcopy(schema)
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.pop("nullable", False) and "type" in node:
                node["type"] = [node["type"], "null"]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return schema


def response_of(spec, op, status):
    return resolve(spec, op["responses"][status])


def bodies_and_replies(spec):
    """(operationId, what, media type object) for every request body and 2xx reply."""
    for op in operations(spec).values():
        body = resolve(spec, op.get("requestBody", {}))
        for media_type, media in body.get("content", {}).items():
            yield op["operationId"], f"request body {media_type}", media_type, media
        for status in op["responses"]:
            if status.startswith("2"):
                for media_type, media in response_of(spec, op, status).get("content", {}).items():
                    yield op["operationId"], f"{status} {media_type}", media_type, media


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


def test_every_operation_has_its_stable_camel_case_operation_id(spec):
    ids = {key: op.get("operationId") for key, op in operations(spec).items()}

    assert ids == OPERATION_IDS
    assert len(set(ids.values())) == len(ids)
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", op_id) for op_id in ids.values())


def test_every_json_body_and_success_reply_has_an_example_its_schema_accepts(spec):
    checked = []
    for op_id, what, media_type, media in bodies_and_replies(spec):
        if media_type != "application/json":
            continue
        assert "example" in media, f"{op_id}: {what} has no example"
        validator = jsonschema_rs.Draft4Validator(as_json_schema(resolve(spec, media["schema"])))
        errors = [error.message for error in validator.iter_errors(media["example"])]
        assert not errors, f"{op_id}: {what}: the example does not fit the schema: {errors}"
        checked.append(op_id)
    assert {op_id for op_id in OPERATION_IDS.values()} - set(checked) == {"logout", "endSession", "deleteProduct",
                                                                           "getProductImage"}


def test_binary_bodies_and_replies_say_their_content_types(spec):
    binary = {(op_id, what): media["schema"] for op_id, what, media_type, media in bodies_and_replies(spec)
              if media_type != "application/json"}

    assert binary == {
        ("getProductImage", "200 image/png"): {"type": "string", "format": "binary"},
        ("getProductImage", "200 image/jpeg"): {"type": "string", "format": "binary"},
        ("getProductImage", "200 image/webp"): {"type": "string", "format": "binary"},
        ("uploadProductImage", "request body multipart/form-data"): {
            "type": "object", "required": ["image"], "properties": {"image": {"type": "string", "format": "binary"}}},
    }
    upload = spec["paths"]["/api/v1/products/{product_id}/image"]["put"]["requestBody"]
    assert upload["content"]["multipart/form-data"]["encoding"]["image"]["contentType"] == (
        "image/png, image/jpeg, image/webp")
    picture = spec["paths"]["/api/v1/products/{product_id}/image"]["get"]["responses"]["200"]
    assert set(picture["headers"]) == {"ETag", "Cache-Control"}


def test_every_error_response_has_the_error_schema(spec):
    error = spec["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"code", "status", "message", "errors"}
    assert error["required"] == ["code", "status"]
    documented = set()
    for key, op in operations(spec).items():
        for status, response in op["responses"].items():
            if status[0] in "45" or status == "default":
                if "$ref" not in response:  # else one of flask-smorest's responses, which use it as ERROR_SCHEMA
                    assert response["content"]["application/json"]["schema"] == ERROR_REF, (key, status)
                content = resolve(spec, response)["content"]
                assert set(content) == {"application/json"}, (key, status)
                assert content["application/json"]["schema"] == error, (key, status)
                documented.add(status)
    assert {"401", "403", "404", "409", "413", "422", "429", "503", "default"} <= documented


def test_refusals_are_documented_where_they_happen(spec):
    by_id = {op["operationId"]: op for op in operations(spec).values()}
    for key, op in operations(spec).items():
        if op.get("security"):
            unauthorized = op["responses"]["401"]
            assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True, key
        if "requestBody" in op and "application/json" in op["requestBody"]["content"]:
            assert "413" in op["responses"] and "422" in op["responses"], key
        if "{" in key[1]:
            assert "404" in op["responses"], key
    for op_id in ("login", "registerUser", "changePassword"):
        assert by_id[op_id]["responses"]["429"]["headers"]["Retry-After"]["required"] is True
    assert {"403", "404", "409"} <= set(by_id["buyProduct"]["responses"])
    assert by_id["buyProduct"]["responses"]["409"]["content"]["application/json"]["example"]["message"].startswith(
        "Insufficient deposit: ")


def test_money_operations_document_503_with_retry_after(spec):
    money = {op["operationId"]: op for op in operations(spec).values() if op["operationId"] in MONEY_OPERATIONS}

    assert set(money) == MONEY_OPERATIONS
    for op_id, op in money.items():
        unavailable = op["responses"]["503"]
        assert unavailable["headers"]["Retry-After"]["required"] is True, op_id
        assert unavailable["content"]["application/json"]["schema"] == ERROR_REF, op_id
        assert "Idempotency-Key" in unavailable["description"], op_id
        assert [p["name"] for p in op["parameters"] if p["in"] == "header"] == ["Idempotency-Key"], op_id


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
