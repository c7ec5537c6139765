"""A seller's products, pictures and sales."""

from app.home.seller import routes  # noqa: F401  (views register themselves on app.home.bp)
