"""The web pages: the catalogue, the buyers' machine, the sellers' and the operator's pages."""

from flask import Blueprint

bp = Blueprint("home", __name__)

from app.home import auth, filters, routes  # noqa: E402, F401  (views register themselves on bp)

bp.record_once(auth.init_login_manager)
