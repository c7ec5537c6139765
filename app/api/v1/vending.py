from flask import current_app
from flask.views import MethodView

from app.api.base import VendingBlueprint
from app.api.v1 import examples
from app.api.v1.idempotent import IDEMPOTENCY_DOC, run_idempotent
from app.api.v1.schemas import BuySchema, CoinReturnSchema, DepositSchema, EscrowSchema, PurchaseSchema
from app.api.v1.security import actor, auth_required
from app.services import vending

ESCROW_REPLY = EscrowSchema()
PURCHASE_REPLY = PurchaseSchema()
COIN_RETURN_REPLY = CoinReturnSchema()
BUYERS_ONLY = "Only a buyer may do this"

blp = VendingBlueprint("vending", __name__, url_prefix="/api/v1", description="Insert coins, buy, coin return")


@blp.route("/deposit")
class Deposit(MethodView):
    @auth_required
    @blp.arguments(DepositSchema(), example=examples.DEPOSIT)
    @blp.response(200, EscrowSchema, example=examples.ESCROW)
    @blp.error(403, BUYERS_ONLY)
    @blp.error(409, "The machine holds no more for this buyer")
    @blp.doc(operationId="insertCoin", **IDEMPOTENCY_DOC)
    def post(self, data):
        """Insert one coin (buyer)"""
        limit = current_app.config["MAX_DEPOSIT_CENTS"]
        return run_idempotent(lambda: vending.deposit(actor(), data["coin"], max_deposit=limit), ESCROW_REPLY)

    @auth_required
    @blp.response(200, EscrowSchema, example=examples.ESCROW)
    @blp.error(403, BUYERS_ONLY)
    @blp.doc(operationId="getDeposit")
    def get(self):
        """The buyer's escrow: deposit and the coins inserted"""
        return vending.get_escrow(actor())


@blp.route("/buy")
class Buy(MethodView):
    @auth_required
    @blp.arguments(BuySchema(), example=examples.BUY)
    @blp.response(200, PurchaseSchema, example=examples.PURCHASE)
    @blp.error(403, BUYERS_ONLY)
    @blp.error(404, "No such product on sale")
    @blp.error(409, "Sold out, too little deposit, the price changed, or change cannot be paid: nothing was bought",
               example=examples.TOO_LITTLE_DEPOSIT)
    @blp.doc(operationId="buyProduct", **IDEMPOTENCY_DOC)
    def post(self, data):
        """Buy with the coins inserted; change comes back as coins, largest first (buyer)"""
        initial_float = current_app.config["INITIAL_FLOAT"]
        return run_idempotent(
            lambda: vending.buy(
                actor(), data["product_id"], data["amount"], initial_float=initial_float,
                expected_cost=data.get("expected_cost"),
            ),
            PURCHASE_REPLY,
        )


@blp.route("/reset")
class Reset(MethodView):
    @auth_required
    @blp.response(200, CoinReturnSchema, example=examples.COIN_RETURN)
    @blp.error(403, BUYERS_ONLY)
    @blp.doc(operationId="resetDeposit", **IDEMPOTENCY_DOC)
    def post(self):
        """Coin return: get back exactly the coins inserted (buyer)"""
        return run_idempotent(lambda: vending.reset(actor()), COIN_RETURN_REPLY)
