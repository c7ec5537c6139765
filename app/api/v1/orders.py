from flask import current_app
from flask.views import MethodView

from app.api.base import PAGINATION_HEADERS, PageQuerySchema, VendingBlueprint, page_headers
from app.api.v1.idempotent import IDEMPOTENCY_DOC, run_idempotent
from app.api.v1.schemas import OrderSchema, RefundSchema
from app.api.v1.security import actor, auth_required
from app.data.pages import paginate
from app.services import orders

REFUND_REPLY = RefundSchema()

blp = VendingBlueprint("orders", __name__, url_prefix="/api/v1/orders", description="Order history and refunds")


@blp.route("")
class Orders(MethodView):
    @auth_required
    @blp.arguments(PageQuerySchema(), location="query")
    @blp.response(200, OrderSchema(many=True), headers=PAGINATION_HEADERS)
    def get(self, query):
        """Orders, newest first: a buyer's purchases, a seller's sales, or all (admin)"""
        page = paginate(orders.visible_orders(actor()), page=query["page"], page_size=query["page_size"])
        return page.items, 200, page_headers(page)


@blp.route("/<int:order_id>")
class OrderById(MethodView):
    @auth_required
    @blp.response(200, OrderSchema)
    def get(self, order_id):
        """One order (its buyer, its seller or an operator)"""
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
            lambda: orders.refund(
                actor(), order_id, window_seconds=config["REFUND_WINDOW_SECONDS"], initial_float=config["INITIAL_FLOAT"]
            ),
            REFUND_REPLY,
        )
