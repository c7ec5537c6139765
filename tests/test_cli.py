"""flask create-admin, flask audit and flask seed-demo through the CLI runner."""

from sqlalchemy import func, select

from app.extensions import db
from app.models import Product, User


def run(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_create_admin_from_stdin_makes_an_admin_who_can_log_in(app, client):
    result = run(app, "create-admin", "Root", "--password-stdin", input="root-password-1\n")

    assert result.exit_code == 0, result.output
    assert "Created admin Root" in result.output
    db.session.rollback()
    user = db.session.scalar(select(User).where(User.username_key == "root"))
    assert user.role == "admin" and user.deposit == 0
    login = client.post("/api/v1/auth/login", json={"username": "root", "password": "root-password-1"})
    assert login.status_code == 200 and login.json["user"]["role"] == "admin"
    coins = client.get("/api/v1/machine/coins", headers={"Authorization": f"Bearer {login.json['token']}"})
    assert coins.status_code == 200


def test_create_admin_refuses_a_taken_name(app):
    assert run(app, "create-admin", "root", "--password-stdin", input="root-password-1\n").exit_code == 0

    result = run(app, "create-admin", "ROOT", "--password-stdin", input="other-password\n")

    assert result.exit_code != 0
    assert "taken" in result.output
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_create_admin_refuses_a_short_password(app):
    result = run(app, "create-admin", "root", "--password-stdin", input="short\n")
    assert result.exit_code != 0 and "Password" in result.output
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_create_admin_prompts_for_the_password(app):
    result = run(app, "create-admin", "root", input="root-password-1\nroot-password-1\n")
    assert result.exit_code == 0, result.output
    db.session.rollback()
    assert db.session.scalar(select(User.role).where(User.username_key == "root")) == "admin"


def test_audit_is_clean_on_a_fresh_database(app):
    result = run(app, "audit")
    assert result.exit_code == 0, result.output


def test_seed_demo_loads_once(app, client):
    first = run(app, "seed-demo")
    assert first.exit_code == 0, first.output
    assert "admin / admin-password" in first.output
    db.session.rollback()
    counts = (db.session.scalar(select(func.count()).select_from(User)),
              db.session.scalar(select(func.count()).select_from(Product)))
    assert counts == (3, 5)

    second = run(app, "seed-demo")

    assert second.exit_code == 0, second.output
    db.session.rollback()
    assert (db.session.scalar(select(func.count()).select_from(User)),
            db.session.scalar(select(func.count()).select_from(Product))) == counts
    login = client.post("/api/v1/auth/login", json={"username": "buyer", "password": "buyer-password"})
    assert login.status_code == 200 and login.json["user"]["role"] == "buyer"
    assert len(client.get("/api/v1/products").json) == 5


def test_audit_is_clean_after_trading(app, client):
    run(app, "seed-demo")
    token = client.post("/api/v1/auth/login", json={"username": "buyer", "password": "buyer-password"}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    cola = next(p for p in client.get("/api/v1/products").json if p["productName"] == "Cola")
    client.post("/api/v1/deposit", json={"coin": 100}, headers=headers)
    bought = client.post("/api/v1/buy", json={"productId": cola["id"]}, headers=headers)
    assert bought.status_code == 200
    assert client.post(f"/api/v1/orders/{bought.json['orderId']}/refund", headers=headers).status_code == 200

    result = run(app, "audit")

    assert result.exit_code == 0, result.output


def test_audit_fails_when_coins_vanish(app, client, admin):
    from sqlalchemy import update

    from app.models import CoinTube

    assert client.get("/api/v1/machine/coins", headers=admin.headers).status_code == 200  # loads the float
    db.session.execute(update(CoinTube).where(CoinTube.coin == 50).values(count=CoinTube.count - 1))
    db.session.commit()

    result = run(app, "audit")

    assert result.exit_code == 1, result.output
