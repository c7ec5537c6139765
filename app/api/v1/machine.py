from flask import current_app
from flask.views import MethodView

from app.api.base import VendingBlueprint
from app.api.v1 import examples
from app.api.v1.schemas import TubesSchema
from app.api.v1.security import actor, auth_required
from app.services import machine

blp = VendingBlueprint("machine", __name__, url_prefix="/api/v1/machine", description="Coin tubes (operators)")
OPERATORS_ONLY = "Only an operator may do this"


def _as_json(counts: dict[int, int]) -> dict[str, int]:
    return {str(coin): count for coin, count in counts.items()}


@blp.route("/coins")
class Coins(MethodView):
    @auth_required
    @blp.response(200, TubesSchema, example=examples.TUBES)
    @blp.error(403, OPERATORS_ONLY)
    @blp.doc(operationId="getCoinTubes")
    def get(self):
        """How many coins of each kind the tubes hold (admin)"""
        return _as_json(machine.get_tubes(actor(), initial_float=current_app.config["INITIAL_FLOAT"]))

    @auth_required
    @blp.arguments(TubesSchema(), example=examples.TUBES)
    @blp.response(200, TubesSchema, example=examples.TUBES)
    @blp.error(403, OPERATORS_ONLY)
    @blp.doc(operationId="setCoinTubes")
    def put(self, data):
        """Set the tubes after a refill or an emptying (admin); the ledger records the difference"""
        counts = {int(coin): count for coin, count in data.items()}
        return _as_json(machine.set_tubes(actor(), counts, initial_float=current_app.config["INITIAL_FLOAT"]))
