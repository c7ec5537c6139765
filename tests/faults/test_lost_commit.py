"""A money request whose COMMIT is cut (before it reaches PostgreSQL, half-way, or after PostgreSQL
committed but before the answer came back), then retried with the same Idempotency-Key: the
operation takes effect exactly once and every answer for the key is the first outcome."""

from dataclasses import dataclass

import pytest

from tests.faults.conftest import Account, Shop, until_answered

MODES = ["before", "during", "after"]
KEY = "fault-7f3a9c2e"


@dataclass
class Scene:
    method: str
    path: str
    body: dict | None
    buyer: Account
    admin: Account
    product_id: int


def scene_for(shop: Shop, operation: str) -> Scene:
    admin, seller, buyer = shop.account("admin"), shop.account("seller"), shop.account("buyer")
    shop.ok("PUT", "/machine/coins", admin, {"5": 20, "10": 20, "20": 20, "50": 20, "100": 20})
    product = shop.ok("POST", "/products", seller, {"productName": "Cola", "cost": 35, "amountAvailable": 10,
                                                    "refundable": True}, status=201)
    method, path, body = {
        "deposit": ("POST", "/deposit", {"coin": 100}),
        "buy": ("POST", "/buy", {"productId": product["id"], "amount": 1}),
        "reset": ("POST", "/reset", None),
        "refund": ("POST", "/orders/{order}/refund", None),
        "delete account": ("DELETE", f"/users/{buyer.id}", None),
    }[operation]
    if operation in ("buy", "reset", "delete account"):
        for coin in (50, 20, 20):
            shop.ok("POST", "/deposit", buyer, {"coin": coin})
    if operation == "refund":
        shop.ok("POST", "/deposit", buyer, {"coin": 50})
        order = shop.ok("POST", "/buy", buyer, {"productId": product["id"], "amount": 1})
        path = path.format(order=order["orderId"])
    return Scene(method, path, body, buyer, admin, product["id"])


def effects(shop: Shop, scene: Scene) -> dict:
    """Everything the five operations can change, read straight from the database."""
    count = "SELECT count(*) FROM ledger_entries WHERE kind = :kind"
    return {
        "coins inserted": shop.sql(count, kind="coin_inserted"),
        "escrow returned": shop.sql(count, kind="escrow_returned"),
        "refunds paid": shop.sql(count, kind="refund_paid"),
        "orders": shop.sql("SELECT count(*) FROM orders"),
        "refunded orders": shop.sql("SELECT count(*) FROM orders WHERE status = 'refunded'"),
        "deposit": shop.sql("SELECT coalesce(sum(deposit), 0) FROM users"),
        "stock": shop.sql("SELECT amount_available FROM products WHERE id = :id", id=scene.product_id),
        "users": shop.sql("SELECT count(*) FROM users"),
    }


OUTCOME = {  # what the answer to one run says (the buyer holds 50 + 20 + 20 before a buy, a reset, a deletion)
    "deposit": lambda body: body["deposit"] == 100,
    "buy": lambda body: (body["totalSpent"], body["change"]) == (35, [50, 5]),
    "reset": lambda body: body["change"] == [50, 20, 20],
    "refund": lambda body: (body["refunded"], body["change"]) == (35, [20, 10, 5]),
    "delete account": lambda body: body["change"] == [50, 20, 20],
}

ONCE = {  # what exactly one run of each operation changes
    "deposit": {"coins inserted": 1, "deposit": 100},
    "buy": {"orders": 1, "deposit": -90, "stock": -1},
    "reset": {"escrow returned": 1, "deposit": -90},
    "refund": {"refunds paid": 1, "refunded orders": 1, "stock": 1},
    "delete account": {"escrow returned": 1, "deposit": -90, "users": -1},
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("operation", list(ONCE))
def test_a_retry_after_a_cut_commit_gets_the_first_outcome_and_the_operation_runs_once(shop, proxy, operation, mode):
    scene = scene_for(shop, operation)
    before = effects(shop, scene)
    proxy.arm(mode)

    first = shop.call(scene.method, scene.path, scene.buyer, scene.body, key=KEY)

    assert proxy.fired.is_set(), "the cut never happened: the test proved nothing"
    assert first.status_code in (200, 503), first.get_data(as_text=True)
    assert first.is_json and "Traceback" not in first.get_data(as_text=True)
    if first.status_code == 503:
        assert first.headers["Retry-After"]
    answers = [first] + [until_answered(lambda: shop.call(scene.method, scene.path, scene.buyer, scene.body,
                                                          key=KEY)) for _ in range(2)]
    assert [a.status_code for a in answers[1:]] == [200, 200], answers[-1].get_data(as_text=True)
    outcome = next(a for a in answers if a.status_code == 200)
    assert OUTCOME[operation](outcome.get_json()), outcome.get_json()  # the receipt of the run that happened
    for later in answers[answers.index(outcome) + 1:]:  # every answer after the first outcome repeats it
        assert later.get_json() == outcome.get_json()
        assert later.headers.get("Idempotent-Replayed") == "true"
    after = effects(shop, scene)
    assert {name: after[name] - before[name] for name in after if after[name] != before[name]} == ONCE[operation]
    assert shop.audit_is_clean()
