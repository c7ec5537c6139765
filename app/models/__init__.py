"""SQLAlchemy models. Money is always integer cents; coins are counted per kind."""

from app.models.auth_session import AuthSession
from app.models.health import HealthCheck
from app.models.idempotency import IdempotencyKey
from app.models.ledger import LedgerEntry
from app.models.machine import CoinTube
from app.models.order import Order
from app.models.product import Product
from app.models.sales import SalesPeriod
from app.models.user import Role, User

__all__ = [
    "AuthSession",
    "CoinTube",
    "HealthCheck",
    "IdempotencyKey",
    "LedgerEntry",
    "Order",
    "Product",
    "Role",
    "SalesPeriod",
    "User",
]
