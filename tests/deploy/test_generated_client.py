"""A Python client generated from the OpenAPI document plays the buy story against a live server.

openapi-python-client (a dev dependency) writes the client into a temporary folder once per test session, from
the document the app serves, offline and with --fail-on-warning: every operation, body and reply must be one it
can type. The story then runs through that client only, against gunicorn on a fresh database (PostgreSQL when
TEST_DATABASE_URL says so, else SQLite): a seller and a buyer register and sign in, the operator fills the tubes,
the seller lists a product with a picture, the buyer inserts too little and is refused with a typed 409 whose
message says why, inserts more, buys and gets the change as coins out of the tubes.
"""

import importlib
import io
import json
import subprocess
import sys
from contextlib import ExitStack
from http import HTTPStatus
from types import SimpleNamespace
from typing import get_args

import pytest
from PIL import Image

import config
from app import create_app
from app.extensions import db
from tests.deploy.conftest import (
    FLASK,
    GUNICORN,
    ROOT,
    VENV_BIN,
    free_port,
    http,
    migrate_database,
    server_env,
    start_gunicorn,
)

pytestmark = pytest.mark.slow

GENERATOR = VENV_BIN / "openapi-python-client"
PACKAGE = "vending_client"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
GENERATOR_CONFIG = {
    "package_name_override": PACKAGE,
    "post_hooks": [],  # no ruff formatting of the generated code: nobody reads it, and it costs seconds
    # The generator reads only JSON, text and octet-stream replies: it is told a picture is bytes.
    "content_type_overrides": {content_type: "application/octet-stream" for content_type in IMAGE_TYPES},
}
OPERATOR_PASSWORD = "operator-password-71"


def served_document() -> dict:
    """The OpenAPI document as the app serves it (it depends on no database)."""
    app = create_app(config.TestConfig(), SQLALCHEMY_DATABASE_URI="sqlite://")
    try:
        return app.test_client().get("/api/openapi.json").get_json()
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    if not GENERATOR.exists():
        pytest.skip("needs openapi-python-client in the virtualenv (requirements-dev.txt)")
    folder = tmp_path_factory.mktemp("generated_client")
    document = served_document()
    (folder / "openapi.json").write_text(json.dumps(document))
    (folder / "config.json").write_text(json.dumps(GENERATOR_CONFIG))
    run = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(folder / "openapi.json"), "--output-path", str(folder / PACKAGE),
         "--meta", "none", "--config", str(folder / "config.json"), "--fail-on-warning"],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, f"the generator refused the document:\n{run.stdout}\n{run.stderr}"
    sys.path.insert(0, str(folder))
    try:
        names = ["client", "models", "types", "api.auth.login", "api.users.register_user", "api.machine.get_coin_tubes",
                 "api.machine.set_coin_tubes", "api.products.create_product", "api.products.upload_product_image",
                 "api.products.get_product_image", "api.vending.insert_coin", "api.vending.buy_product",
                 "api.orders.get_order"]
        modules = {name.rsplit(".", 1)[-1]: importlib.import_module(f"{PACKAGE}.{name}") for name in names}
        yield SimpleNamespace(document=document, **modules)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.fixture
def server(fresh_database_url, processes):
    """The base URL of a gunicorn server on a fresh, migrated database with an operator and empty tubes."""
    if not GUNICORN.exists():
        pytest.skip("needs gunicorn in the virtualenv")
    env = server_env(fresh_database_url, INITIAL_FLOAT="0")
    migrate_database(env)
    made = subprocess.run(
        [str(FLASK), "create-admin", "operator", "--password-stdin"],
        cwd=ROOT, env=env, input=f"{OPERATOR_PASSWORD}\n", capture_output=True, text=True, timeout=120,
    )
    assert made.returncode == 0, made.stderr
    port = free_port()
    start_gunicorn(processes, "generated_client_app", port, env, workers=1)
    return f"http://127.0.0.1:{port}"


def png(width: int = 4, height: int = 3) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def test_every_refusal_of_the_buy_is_typed_as_the_error_model(generated):
    models, Response = generated.models, generated.types.Response

    # a 409 (or any other documented refusal) is an Error, never the untyped None of an undocumented body
    assert generated.buy_product.sync_detailed.__annotations__["return"] == Response[models.Error | models.Purchase]
    picture = generated.get_product_image.sync_detailed.__annotations__["return"]
    assert {models.Error, generated.types.File} <= set(get_args(get_args(picture)[0]))  # an image is bytes
    assert models.Error.__annotations__ == {
        "code": "int", "status": "str", "message": "str | Unset", "errors": "ErrorErrors | Unset"}


def test_generated_client_plays_the_buy_story(generated, server):
    status, _, document = http("GET", f"{server}/api/openapi.json")
    assert status == 200 and document == generated.document, "the live server serves another document"
    models, connections = generated.models, ExitStack()
    with connections:  # each client holds an httpx connection pool, closed at the end
        play_the_buy_story(generated, models, server, connections)


def play_the_buy_story(generated, models, server: str, connections: ExitStack) -> None:
    anonymous = connections.enter_context(generated.client.Client(base_url=server, raise_on_unexpected_status=True))

    def sign_in(username: str, password: str):
        reply = generated.login.sync_detailed(client=anonymous, body=models.Login(username=username, password=password))
        assert reply.status_code == HTTPStatus.OK, reply.content
        assert isinstance(reply.parsed, models.LoginResult) and reply.parsed.token_type == "Bearer"
        return connections.enter_context(generated.client.AuthenticatedClient(
            base_url=server, token=reply.parsed.token, raise_on_unexpected_status=True))

    accounts = {}
    for username, role in (("sam", models.RegisterRole.SELLER), ("ann", models.RegisterRole.BUYER)):
        reply = generated.register_user.sync_detailed(
            client=anonymous, body=models.Register(username=username, password=f"{username}-secret-pass-8", role=role))
        assert reply.status_code == HTTPStatus.CREATED, reply.content
        assert (reply.parsed.username, reply.parsed.role, reply.parsed.deposit) == (username, str(role), 0)
        accounts[username] = reply.parsed
    seller, buyer = sign_in("sam", "sam-secret-pass-8"), sign_in("ann", "ann-secret-pass-8")
    operator = sign_in("operator", OPERATOR_PASSWORD)

    # the operator fills the empty tubes (INITIAL_FLOAT=0): no change could be paid without them
    assert generated.get_coin_tubes.sync(client=operator).to_dict() == {"5": 0, "10": 0, "20": 0, "50": 0, "100": 0}
    tubes = generated.set_coin_tubes.sync(
        client=operator, body=models.Tubes(field_5=10, field_10=10, field_20=10, field_50=10, field_100=0))
    assert tubes.to_dict() == {"5": 10, "10": 10, "20": 10, "50": 10, "100": 0}

    # the seller lists a product and gives it a picture, which anyone can fetch as image/png
    cola = generated.create_product.sync(client=seller, body=models.ProductInput(
        product_name="Cola", cost=35, amount_available=10, refundable=True))
    assert isinstance(cola, models.Product)
    assert (cola.product_name, cola.cost, cola.amount_available, cola.seller_id) == ("Cola", 35, 10, accounts["sam"].id)
    upload = models.UploadProductImageBody(
        image=generated.types.File(payload=io.BytesIO(png()), file_name="cola.png", mime_type="image/png"))
    assert generated.upload_product_image.sync(cola.id, client=seller, body=upload).has_image is True
    picture = generated.get_product_image.sync_detailed(cola.id, client=anonymous)
    assert picture.status_code == HTTPStatus.OK and picture.headers["Content-Type"] == "image/png"
    assert picture.headers["ETag"] and picture.parsed.payload.read().startswith(b"\x89PNG\r\n\x1a\n")

    # 50 cents for two Colas at 35: refused, as a typed error that says what is missing
    escrow = generated.insert_coin.sync(client=buyer, body=models.Deposit(coin=models.DepositCoin.VALUE_50))
    assert (escrow.deposit, escrow.coins.to_dict()) == (50, {"5": 0, "10": 0, "20": 0, "50": 1, "100": 0})
    too_little = generated.buy_product.sync_detailed(client=buyer, body=models.Buy(product_id=cola.id, amount=2))
    assert too_little.status_code == HTTPStatus.CONFLICT
    refusal = too_little.parsed
    assert isinstance(refusal, models.Error)
    assert (refusal.code, refusal.status) == (409, "Conflict")
    assert refusal.message == "Insufficient deposit: €0.70 needed, €0.50 inserted; insert €0.20 more"

    # a euro more, and the buy goes through: 150 - 70 = 80 cents back as 50 + 20 + 10, out of the tubes
    escrow = generated.insert_coin.sync(client=buyer, body=models.Deposit(coin=models.DepositCoin.VALUE_100))
    assert escrow.deposit == 150
    bought = generated.buy_product.sync_detailed(
        client=buyer, body=models.Buy(product_id=cola.id, amount=2, expected_cost=35), idempotency_key="story-buy-1")
    assert bought.status_code == HTTPStatus.OK, bought.content
    purchase = bought.parsed
    assert isinstance(purchase, models.Purchase)
    assert (purchase.amount, purchase.total_spent, purchase.change, purchase.deposit) == (2, 70, [50, 20, 10], 0)
    assert (purchase.product.id, purchase.product.product_name, purchase.product.cost) == (cola.id, "Cola", 35)
    assert "Idempotent-Replayed" not in bought.headers

    # the same request sent again (a lost reply): the stored purchase, not a second one
    again = generated.buy_product.sync_detailed(
        client=buyer, body=models.Buy(product_id=cola.id, amount=2, expected_cost=35), idempotency_key="story-buy-1")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.parsed.to_dict() == purchase.to_dict()

    order = generated.get_order.sync(purchase.order_id, client=buyer)
    assert (order.buyer_id, order.seller_id, order.total_spent, order.change) == (
        accounts["ann"].id, accounts["sam"].id, 70, [50, 20, 10])
    assert str(order.status) == "paid" and order.refunded_at is None
    assert generated.get_coin_tubes.sync(client=operator).to_dict() == {"5": 10, "10": 9, "20": 9, "50": 10, "100": 1}
