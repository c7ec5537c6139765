"""The web pages: one package per feature (account, machine, seller, operator) on one blueprint, so endpoint
names stay `home.<view>`; each package holds its thin routes and its forms."""

from flask import Blueprint

bp = Blueprint("home", __name__)

from app.home import account, auth, filters, machine, operator, seller  # noqa: E402, F401  (views register on bp)

bp.record_once(auth.init_login_manager)
