"""The catalogue, registration, login and logout, and the account's sessions."""

from app.home.account import routes  # noqa: F401  (views register themselves on app.home.bp)
