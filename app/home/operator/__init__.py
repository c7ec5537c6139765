"""The operator's pages: the coin tubes, the users and every order."""

from app.home.operator import routes  # noqa: F401  (views register themselves on app.home.bp)
