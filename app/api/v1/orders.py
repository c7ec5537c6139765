from flask import current_app
from flask.views import MethodView

from app.api.base import SQLPage, VendingBlueprint
from app.api.v1.idempotent import IDEMPOTENCY_DOC, run_idempotent
from app.api.v1.schemas import OrderSchema, RefundSchema
from app.api.v1.security import actor, auth_required
from app.services import orders

REFUND_REPLY = RefundSchema()  # built once: instantiating a schema deep-copies its fields

blp = VendingBlueprint("orders", __name__, url_prefix="/api/v1/orders", description="Order history and refunds")


@blp.route("")
class Orders(MethodView):
    @auth_required
    @blp.response(200, OrderSchema(many=True))
    @blp.paginate(SQLPage, page_size=20)
    def get(self):
        """Orders, newest first: a buyer's purchases, a seller's sales, or all (admin)"""
        return orders.visible_orders(actor())


@blp.route("/<int:order_id>")
class OrderById(MethodView):
    @auth_required
    @blp.response(200, OrderSchema)
    def get(self, order_id):
        """One order"""
        return orders.get_order(actor(), order_id)


@blp.route("/<int:order_id>/refund")
class RefundOrder(MethodView):
    @auth_required
    @blp.response(200, RefundSchema)
    @blp.alt_response(409, description="Not refundable, already refunded, too late, or no coins to pay it")
    @blp.doc(**IDEMPOTENCY_DOC)
    def post(self, order_id):
        """Refund a whole order of a refundable product within the refund window (its buyer)"""
        config = current_app.config
        return run_idempotent(
            lambda hook: orders.refund(
                actor(),
                order_id,
                window_seconds=config["REFUND_WINDOW_SECONDS"],
                initial_float=config["INITIAL_FLOAT"],
                on_success=hook,
            ),
            REFUND_REPLY,
            {"orderId": order_id},
        )
