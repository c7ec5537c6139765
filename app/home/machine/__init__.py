"""The buyer's machine: coins, buying, coin return, refunds, orders and receipts."""

from app.home.machine import routes  # noqa: F401  (views register themselves on app.home.bp)
