"""API v1 blueprints, registered under /api/v1."""

from app.api.v1 import auth, machine, orders, products, users, vending

BLUEPRINTS = (users.blp, auth.blp, products.blp, vending.blp, orders.blp, machine.blp)
