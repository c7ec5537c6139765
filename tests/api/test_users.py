"""Accounts through the API: registration, reading, password change, deletion."""

from datetime import datetime

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuthSession, Order, Product, User
from app.services import passwords
from tests.api.conftest import API, assert_401, assert_error, buy_via_api, give_escrow, pagination
from tests.factories import make_product

USER_FIELDS = {"id", "username", "role", "deposit", "createdAt"}


def user_row(username: str) -> User | None:
    db.session.rollback()
    return db.session.scalar(select(User).where(User.username_key == username.lower()))


@pytest.mark.parametrize("role", ["buyer", "seller"])
def test_register_returns_the_user_and_stores_an_argon2id_hash(client, role):
    response = client.post(f"{API}/users", json={"username": "Ann.B-1_", "password": "ann-password", "role": role})

    assert response.status_code == 201
    body = response.json
    assert set(body) == USER_FIELDS
    assert body["username"] == "Ann.B-1_" and body["role"] == role and body["deposit"] == 0
    datetime.fromisoformat(body["createdAt"])
    row = user_row("ann.b-1_")
    assert row.id == body["id"] and row.role == role and row.deposit == 0
    assert row.password_hash.startswith("$argon2id$") and "ann-password" not in row.password_hash
    assert passwords.verify_password(row.password_hash, "ann-password")


def test_register_defaults_to_buyer(client):
    response = client.post(f"{API}/users", json={"username": "bob", "password": "bob-password"})
    assert response.status_code == 201 and response.json["role"] == "buyer"


def test_duplicate_username_is_refused_case_insensitively(client, db_snapshot):
    assert client.post(f"{API}/users", json={"username": "Ann", "password": "ann-password"}).status_code == 201
    before = db_snapshot()

    response = client.post(f"{API}/users", json={"username": "aNN", "password": "other-password"})

    body = assert_error(response, 409)
    assert "username" in body["errors"]["json"]
    assert db_snapshot() == before


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"username": "eve", "password": "eve-password", "role": "admin"}, "role"),
        ({"username": "eve", "password": "eve-password", "deposit": 1000}, "deposit"),
        ({"username": "eve", "password": "eve-password", "id": 7}, "id"),
        ({"username": "eve", "password": "eve-password", "role": "root"}, "role"),
        ({"username": "ab", "password": "eve-password"}, "username"),
        ({"username": "a" * 33, "password": "eve-password"}, "username"),
        ({"username": "has space", "password": "eve-password"}, "username"),
        ({"username": "semi;colon", "password": "eve-password"}, "username"),
        ({"username": "émile", "password": "eve-password"}, "username"),
        ({"username": 12345, "password": "eve-password"}, "username"),
        ({"username": "eve", "password": "x" * 7}, "password"),
        ({"username": "eve", "password": "x" * 129}, "password"),
        ({"username": "eve", "password": 12345678}, "password"),
        ({"username": "eve", "password": "nul\x00password"}, "password"),
        ({"password": "eve-password"}, "username"),
        ({"username": "eve"}, "password"),
    ],
)
def test_register_rejects_invalid_input(client, db_snapshot, payload, field):
    before = db_snapshot()

    response = client.post(f"{API}/users", json=payload)

    body = assert_error(response, 422)
    assert field in body["errors"]["json"]
    assert db_snapshot() == before
    assert user_row("eve") is None


@pytest.mark.parametrize("length", [8, 128])
def test_password_length_bounds_are_accepted(client, length):
    password = ("w7Kq-pLx2#Vn9sRb" * 8)[:length]  # not a guessable password at either length
    response = client.post(f"{API}/users", json={"username": "len", "password": password})
    assert response.status_code == 201


def test_admin_lists_users_paginated_with_role_filter(client, admin, buyer, other_buyer, seller):
    response = client.get(f"{API}/users", query_string={"page_size": 2}, headers=admin.headers)

    assert response.status_code == 200
    assert [u["username"] for u in response.json] == ["operator", "buyer"]
    assert all(set(u) == USER_FIELDS for u in response.json)
    meta = pagination(response)
    assert (meta["total"], meta["total_pages"], meta["page"], meta["next_page"]) == (4, 2, 1, 2)

    response = client.get(f"{API}/users", query_string={"role": "seller"}, headers=admin.headers)
    assert [u["id"] for u in response.json] == [seller.id]
    assert pagination(response)["total"] == 1

    assert_error(client.get(f"{API}/users", query_string={"role": "king"}, headers=admin.headers), 422)
    assert_error(client.get(f"{API}/users", query_string={"page_size": 101}, headers=admin.headers), 422)


def test_me_and_user_by_id(client, buyer, admin):
    me = client.get(f"{API}/users/me", headers=buyer.headers)
    assert me.status_code == 200
    assert set(me.json) == USER_FIELDS
    assert (me.json["id"], me.json["username"], me.json["role"], me.json["deposit"]) == (
        buyer.id, "buyer", "buyer", 0)

    give_escrow(buyer.id, {50: 1, 5: 1})
    by_id = client.get(f"{API}/users/{buyer.id}", headers=buyer.headers)
    assert by_id.status_code == 200 and by_id.json["deposit"] == 55
    assert client.get(f"{API}/users/{buyer.id}", headers=admin.headers).json == by_id.json


def test_unknown_user_id_is_404_for_admin(client, admin):
    assert_error(client.get(f"{API}/users/99999", headers=admin.headers), 404)
    assert_error(client.delete(f"{API}/users/99999", headers=admin.headers), 404)


def test_password_change_keeps_this_session_and_ends_the_others(client, make_account):
    ann = make_account("buyer", "ann", "old-password")
    other = client.post(f"{API}/auth/login", json={"username": "ann", "password": "old-password"}).json["token"]

    response = client.patch(f"{API}/users/{ann.id}", json={"currentPassword": "old-password",
                                                           "password": "new-password"}, headers=ann.headers)

    assert response.status_code == 200
    assert set(response.json) == USER_FIELDS and response.json["id"] == ann.id
    assert client.get(f"{API}/users/me", headers=ann.headers).status_code == 200
    assert_401(client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {other}"}))
    db.session.rollback()
    assert [s.id for s in db.session.scalars(select(AuthSession).where(AuthSession.user_id == ann.id))] == [
        ann.session_id]
    assert_401(client.post(f"{API}/auth/login", json={"username": "ann", "password": "old-password"}))
    assert client.post(f"{API}/auth/login", json={"username": "ann", "password": "new-password"}).status_code == 200


def test_password_change_with_wrong_current_password_changes_nothing(client, make_account, db_snapshot):
    ann = make_account("buyer", "ann", "old-password")
    other = client.post(f"{API}/auth/login", json={"username": "ann", "password": "old-password"}).json["token"]
    before = db_snapshot()

    response = client.patch(f"{API}/users/{ann.id}", json={"currentPassword": "wrong-password",
                                                           "password": "new-password"}, headers=ann.headers)

    # 422, not 401: the token is fine, so clients must not treat this as "signed out"
    assert response.status_code == 422
    assert "WWW-Authenticate" not in response.headers
    assert response.json["errors"]["json"]["currentPassword"] == ["Current password is wrong"]
    assert db_snapshot() == before
    assert client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {other}"}).status_code == 200


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"password": "new-password"}, "currentPassword"),
        ({"currentPassword": "old-password"}, "password"),
        ({"currentPassword": "old-password", "password": "short"}, "password"),
        ({"currentPassword": "old-password", "password": "n" * 129}, "password"),
        ({"currentPassword": "old-password", "password": "new-password", "role": "admin"}, "role"),
        ({"currentPassword": "old-password", "password": "new-password", "username": "zed"}, "username"),
    ],
)
def test_password_change_rejects_invalid_input(client, make_account, db_snapshot, payload, field):
    ann = make_account("buyer", "ann", "old-password")
    before = db_snapshot()

    body = assert_error(client.patch(f"{API}/users/{ann.id}", json=payload, headers=ann.headers), 422)

    assert field in body["errors"]["json"]
    assert db_snapshot() == before


def test_admin_changes_a_users_password_and_ends_all_their_sessions(client, admin, buyer):
    response = client.patch(f"{API}/users/{buyer.id}", json={"currentPassword": buyer.password,
                                                              "password": "reset-by-admin"}, headers=admin.headers)
    assert response.status_code == 200
    assert_401(client.get(f"{API}/users/me", headers=buyer.headers))
    assert client.get(f"{API}/users/me", headers=admin.headers).status_code == 200


def test_deleting_a_buyer_pays_back_the_escrow_and_keeps_their_orders(client, buyer, seller, admin, cola):
    order = buy_via_api(client, buyer, cola, 50)
    give_escrow(buyer.id, {100: 1, 20: 2, 5: 1})

    response = client.delete(f"{API}/users/{buyer.id}", headers=buyer.headers)

    assert response.status_code == 200
    assert response.json == {"change": [100, 20, 20, 5]}
    assert user_row("buyer") is None
    assert_401(client.get(f"{API}/users/me", headers=buyer.headers))
    seen = client.get(f"{API}/orders/{order['orderId']}", headers=admin.headers)
    assert seen.status_code == 200
    assert (seen.json["buyerId"], seen.json["productName"], seen.json["totalSpent"]) == (buyer.id, "Cola", 35)
    assert [o["id"] for o in client.get(f"{API}/orders", headers=admin.headers).json] == [order["orderId"]]


def test_deleting_a_buyer_without_escrow_returns_no_change(client, buyer, admin):
    response = client.delete(f"{API}/users/{buyer.id}", headers=admin.headers)
    assert response.status_code == 200 and response.json == {"change": []}


def test_deleting_a_seller_takes_their_products_off_sale(client, buyer, seller, admin, cola):
    order = buy_via_api(client, buyer, cola, 20, 20)
    other = make_product(seller, product_name="Water", cost=25)

    response = client.delete(f"{API}/users/{seller.id}", headers=admin.headers)

    assert response.status_code == 200 and response.json == {"change": []}
    assert_error(client.get(f"{API}/products/{cola.id}"), 404)
    assert_error(client.get(f"{API}/products/{other.id}"), 404)
    assert client.get(f"{API}/products").json == []
    db.session.rollback()
    assert not any(p.on_sale for p in db.session.scalars(select(Product)))
    seen = client.get(f"{API}/orders/{order['orderId']}", headers=buyer.headers)
    assert seen.status_code == 200 and seen.json["productName"] == "Cola" and seen.json["unitCost"] == 35
    assert db.session.get(Order, order["orderId"]).seller_username == "seller"
    # the name is free again once its product is off sale
    fresh = client.post(f"{API}/users", json={"username": "seller2", "password": "seller-password",
                                              "role": "seller"})
    token = client.post(f"{API}/auth/login", json={"username": "seller2", "password": "seller-password"}).json
    created = client.post(f"{API}/products", json={"productName": "cola", "cost": 40, "amountAvailable": 1},
                          headers={"Authorization": f"Bearer {token['token']}"})
    assert fresh.status_code == 201 and created.status_code == 201


def test_last_admin_cannot_be_deleted(client, admin, db_snapshot):
    before = db_snapshot()
    assert_error(client.delete(f"{API}/users/{admin.id}", headers=admin.headers), 409)
    assert db_snapshot() == before


def test_deleting_a_buyer_who_used_idempotency_keys(client, buyer, admin):
    response = client.post(f"{API}/deposit", json={"coin": 50}, headers={**buyer.headers, "Idempotency-Key": "k-1"})
    assert response.status_code == 200

    deleted = client.delete(f"{API}/users/{buyer.id}", headers=admin.headers)

    assert deleted.status_code == 200 and deleted.json == {"change": [50]}
    assert user_row("buyer") is None
