"""Factories for test data, and a snapshot of everything money-related for 'nothing changed' checks."""

import factory
from sqlalchemy import func, select

from app.extensions import db
from app.models import CoinTube, IdempotencyKey, LedgerEntry, Order, Product, User


class ProductFactory(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        model = Product
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"

    product_name = factory.Sequence(lambda n: f"Product {n}")
    name_key = factory.LazyAttribute(lambda o: o.product_name.lower())
    cost = 35
    amount_available = 10
    units_stocked = factory.LazyAttribute(lambda o: o.amount_available)
    refundable = False
    on_sale = True
    seller_id = None


def make_product(seller, **fields) -> Product:
    """A product on sale, owned by `seller` (an Account)."""
    return ProductFactory(seller_id=seller.id, **fields)


def deposit_coins(client, account, *coins: int) -> dict:
    body = None
    for coin in coins:
        response = client.post("/api/v1/deposit", json={"coin": coin}, headers=account.headers)
        assert response.status_code == 200, response.json
        body = response.json
    return body


def snapshot() -> dict:
    """Every balance, stock level, tube, order and ledger row: equal before and after a refused request."""
    db.session.rollback()
    state = {
        "users": [
            (u.id, u.username, u.role, u.deposit, tuple(u.escrowed_coins.values()), u.password_hash)
            for u in db.session.scalars(select(User).order_by(User.id))
        ],
        "products": [
            (p.id, p.product_name, p.cost, p.amount_available, p.units_stocked, p.refundable, p.on_sale, p.seller_id)
            for p in db.session.scalars(select(Product).order_by(Product.id))
        ],
        "tubes": {t.coin: t.count for t in db.session.scalars(select(CoinTube))},
        "orders": [
            (o.id, o.status, o.amount, o.total_spent, tuple(o.change))
            for o in db.session.scalars(select(Order).order_by(Order.id))
        ],
        "ledger": db.session.scalar(select(func.count()).select_from(LedgerEntry)),
        "idempotency_keys": db.session.scalar(select(func.count()).select_from(IdempotencyKey)),
    }
    db.session.rollback()
    return state
