"""Idempotency-Key on the four money operations: a retry returns the first reply and changes nothing."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import AuthSession, IdempotencyKey, User
from app.models.columns import utcnow
from app.services import vending
from app.services.maintenance import Purger
from tests.factories import make_product

KEY = "order-7f3a9c2e-retry-safe"


def keyed(account, key=KEY) -> dict[str, str]:
    return {**account.headers, "Idempotency-Key": key}


def put_coins(app, account, *coins):
    for coin in coins:
        vending.deposit(account.actor, coin, max_deposit=app.config["MAX_DEPOSIT_CENTS"])


@pytest.fixture
def world(app, client, buyer, other_buyer, seller):
    """A refundable product, and an order each buyer can refund."""
    product = make_product(seller, product_name="Cola", cost=35, amount_available=50, refundable=True)
    product_id = product.id
    orders = {}
    for account in (buyer, other_buyer):
        put_coins(app, account, 20, 20)
        bought = client.post("/api/v1/buy", json={"productId": product_id}, headers=account.headers)
        assert bought.status_code == 200, bought.json
        orders[account.id] = bought.json["orderId"]
        put_coins(app, account, 100, 50)  # escrow for a buy or a reset
    return {"product_id": product_id, "orders": orders}


def operation(name, world, account):
    """(path, json body) of each money operation for this account."""
    return {
        "deposit": ("/api/v1/deposit", {"coin": 50}),
        "buy": ("/api/v1/buy", {"productId": world["product_id"], "amount": 2}),
        "reset": ("/api/v1/reset", None),
        "refund": (f"/api/v1/orders/{world['orders'][account.id]}/refund", None),
    }[name]


OPERATIONS = ["deposit", "buy", "reset", "refund"]


@pytest.mark.parametrize("name", OPERATIONS)
def test_repeat_with_same_key_replays_and_changes_nothing(name, client, buyer, world, db_snapshot):
    path, body = operation(name, world, buyer)
    first = client.post(path, json=body, headers=keyed(buyer))
    assert first.status_code == 200, first.json
    assert "Idempotent-Replayed" not in first.headers
    after_first = db_snapshot()

    for _ in range(2):
        again = client.post(path, json=body, headers=keyed(buyer))
        assert again.status_code == 200
        assert again.json == first.json
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.mimetype == "application/json"
    assert db_snapshot() == after_first


@pytest.mark.parametrize("name", OPERATIONS)
def test_same_key_with_a_different_request_is_422(name, client, buyer, world, db_snapshot):
    path, body = operation(name, world, buyer)
    assert client.post(path, json=body, headers=keyed(buyer)).status_code == 200
    before = db_snapshot()
    other_path, other_body = ("/api/v1/deposit", {"coin": 10}) if name != "deposit" else (path, {"coin": 10})

    response = client.post(other_path, json=other_body, headers=keyed(buyer))

    assert response.status_code == 422
    assert response.json["code"] == 422
    assert "different request" in response.json["message"]
    assert "Idempotent-Replayed" not in response.headers
    assert db_snapshot() == before


@pytest.mark.parametrize("name", OPERATIONS)
def test_keys_are_scoped_to_the_user(name, client, buyer, other_buyer, world):
    path, body = operation(name, world, buyer)
    mine = client.post(path, json=body, headers=keyed(buyer))
    other_path, other_body = operation(name, world, other_buyer)

    theirs = client.post(other_path, json=other_body, headers=keyed(other_buyer))

    assert (mine.status_code, theirs.status_code) == (200, 200), theirs.json
    assert "Idempotent-Replayed" not in theirs.headers
    if name == "refund":
        assert theirs.json["orderId"] == world["orders"][other_buyer.id] != mine.json["orderId"]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.key == KEY)) == 2


def test_a_refusal_is_stored_and_replayed(app, client, buyer, world, db_snapshot):
    client.post("/api/v1/reset", headers=buyer.headers)
    put_coins(app, buyer, 20)
    request = {"productId": world["product_id"], "amount": 1}
    refused = client.post("/api/v1/buy", json=request, headers=keyed(buyer))
    assert refused.status_code == 409
    assert "Insufficient deposit" in refused.json["message"]
    put_coins(app, buyer, 20)  # now there would be enough
    before = db_snapshot()

    replay = client.post("/api/v1/buy", json=request, headers=keyed(buyer))

    assert replay.status_code == 409
    assert replay.json == refused.json
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert db_snapshot() == before
    fresh = client.post("/api/v1/buy", json=request, headers=keyed(buyer, "another-key"))
    assert fresh.status_code == 200, fresh.json


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "", "has space", "tab\there", "bell\x07", "del\x7f"],
    ids=["256-chars", "empty", "space", "tab", "bell", "del"],
)
def test_invalid_keys_are_422_and_change_nothing(key, client, buyer, db_snapshot):
    before = db_snapshot()

    response = client.post("/api/v1/deposit", json={"coin": 50}, headers=keyed(buyer, key))

    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["code"] == 422 and response.json["status"] == "Unprocessable Entity"
    assert "Idempotency-Key" in response.json["message"]
    assert db_snapshot() == before


def test_longest_valid_key_works(client, buyer):
    key = "".join(chr(33 + i % 94) for i in range(255))
    first = client.post("/api/v1/deposit", json={"coin": 50}, headers=keyed(buyer, key))
    again = client.post("/api/v1/deposit", json={"coin": 50}, headers=keyed(buyer, key))
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert db.session.get(User, buyer.id).deposit == 50


def test_an_expired_key_runs_again(client, buyer):
    first = client.post("/api/v1/deposit", json={"coin": 50}, headers=keyed(buyer))
    db.session.execute(update(IdempotencyKey).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()

    again = client.post("/api/v1/deposit", json={"coin": 50}, headers=keyed(buyer))

    assert (first.status_code, again.status_code) == (200, 200)
    assert "Idempotent-Replayed" not in again.headers
    assert again.json["deposit"] == 100
    db.session.rollback()
    assert db.session.get(User, buyer.id).deposit == 100


class TestShortTTL:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "IDEMPOTENCY_TTL_SECONDS": 0}

    def test_a_zero_ttl_key_never_replays(self, client, buyer):
        first = client.post("/api/v1/deposit", json={"coin": 20}, headers=keyed(buyer))
        again = client.post("/api/v1/deposit", json={"coin": 20}, headers=keyed(buyer))
        assert (first.json["deposit"], again.json["deposit"]) == (20, 40)
        assert "Idempotent-Replayed" not in again.headers


def test_concurrent_repeats_have_exactly_one_effect(client, buyer, run_concurrently, assert_audit_clean):
    replies = run_concurrently([
        lambda c: c.post("/api/v1/deposit", json={"coin": 100}, headers=keyed(buyer)) for _ in range(8)
    ])

    # a repeat that arrives while the first runs waits for it and replays its reply: never a 409
    assert [(reply.status, reply.json) for reply in replies] == [(200, {"deposit": 100, "coins": {
        "5": 0, "10": 0, "20": 0, "50": 0, "100": 1}})] * 8
    originals = [r for r in replies if "Idempotent-Replayed" not in r.headers]
    assert len(originals) == 1
    assert db.session.get(User, buyer.id).deposit == 100
    assert_audit_clean()


def test_without_the_header_every_request_counts(client, buyer):
    for expected in (50, 100, 150):
        response = client.post("/api/v1/deposit", json={"coin": 50}, headers=buyer.headers)
        assert response.json["deposit"] == expected
        assert "Idempotent-Replayed" not in response.headers
    assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0


def test_header_is_documented_for_the_money_operations(client):
    spec = client.get("/api/openapi.json").json
    for path in ("/api/v1/deposit", "/api/v1/buy", "/api/v1/reset", "/api/v1/orders/{order_id}/refund"):
        params = spec["paths"][path]["post"].get("parameters", [])
        (header,) = [p for p in params if p["in"] == "header" and p["name"] == "Idempotency-Key"]
        assert header["required"] is False
        assert header["schema"]["maxLength"] == 255
        assert "Idempotent-Replayed" in str(spec["paths"][path]["post"]["responses"]), path


def test_an_account_deleted_by_its_own_keyed_request_still_tells_its_coins_on_a_retry(client, buyer, db_snapshot):
    """The deletion ends the token that asked for it; a retry with that token and key gets the
    stored reply (the coins paid out), not a 401, and nothing runs again."""
    put_coins_via_api(client, buyer, 100, 20)
    first = client.delete(f"/api/v1/users/{buyer.id}", headers=keyed(buyer))
    assert (first.status_code, first.json) == (200, {"change": [100, 20]})
    after = db_snapshot()

    again = client.delete(f"/api/v1/users/{buyer.id}", headers=keyed(buyer))

    assert (again.status_code, again.json) == (200, {"change": [100, 20]})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert db_snapshot() == after
    other_key = client.delete(f"/api/v1/users/{buyer.id}", headers=keyed(buyer, "another-key"))
    assert other_key.status_code == 401  # only the stored reply outlives the session, nothing else


def test_an_ended_token_replays_only_its_own_requests(client, buyer, other_buyer):
    put_coins_via_api(client, buyer, 50)
    assert client.post("/api/v1/reset", headers=keyed(buyer)).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=buyer.headers).status_code == 204

    replay = client.post("/api/v1/reset", headers=keyed(buyer))
    different = client.post("/api/v1/deposit", json={"coin": 50}, headers=keyed(buyer))
    someone_else = client.post("/api/v1/reset", headers={"Authorization": "Bearer vm_not-a-token",
                                                          "Idempotency-Key": KEY})

    assert (replay.status_code, replay.json) == (200, {"deposit": 0, "change": [50]})
    assert different.status_code == 401 and someone_else.status_code == 401


def put_coins_via_api(client, account, *coins):
    for coin in coins:
        assert client.post("/api/v1/deposit", json={"coin": coin}, headers=account.headers).status_code == 200


class TestPurge:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "IDEMPOTENCY_TTL_SECONDS": 60}

    def test_expired_keys_and_sessions_are_purged_by_the_app_itself(self, app, client, buyer, other_buyer):
        client.post("/api/v1/deposit", json={"coin": 50}, headers=keyed(buyer, "old"))
        db.session.execute(update(IdempotencyKey).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.execute(update(AuthSession).where(AuthSession.user_id == other_buyer.id)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        app.extensions["purger"] = Purger(every_seconds=0)  # due at every money request

        client.post("/api/v1/deposit", json={"coin": 50}, headers=keyed(buyer, "new"))

        db.session.rollback()
        assert db.session.scalars(select(IdempotencyKey.key)).all() == ["new"]
        assert db.session.scalars(select(AuthSession.user_id)).all() == [buyer.id]

    def test_a_purge_waits_a_minute_between_runs_in_a_worker(self, app, client, buyer):
        purger = app.extensions["purger"]
        assert purger.due() and not purger.due()
