import json

from flask import current_app, url_for
from flask.views import MethodView

from app.api.base import VendingBlueprint
from app.api.v1 import examples
from app.api.v1.idempotent import IDEMPOTENCY_DOC, run_idempotent
from app.api.v1.schemas import OrderFilterSchema, OrderQuerySchema, OrderSchema, OrderTotalsSchema, RefundSchema
from app.api.v1.security import actor, auth_required
from app.services import orders

FILTERS = ("since", "until", "seller_id", "product_id", "status")
ARGUMENT_NAMES = {"since": "since", "until": "until", "seller_id": "sellerId", "product_id": "productId",
                  "status": "status"}

REFUND_REPLY = RefundSchema()

blp = VendingBlueprint("orders", __name__, url_prefix="/api/v1/orders", description="Order history and refunds")


ORDER_LIST_HEADERS = {
    "Link": {
        "description": 'The next (older) and previous (newer) pages: `<...?cursor=...>; rel="next"`',
        "schema": {"type": "string"},
    },
    "X-Pagination": {
        "description": 'JSON text: {"page_size": 20, "has_next": true, "page": 1} ("page" for numbered pages only)',
        "schema": {"type": "string"},
    },
}


@blp.route("")
class Orders(MethodView):
    @auth_required
    @blp.arguments(OrderQuerySchema(), location="query")
    @blp.response(200, OrderSchema(many=True), headers=ORDER_LIST_HEADERS, example=examples.ORDERS)
    @blp.doc(operationId="listOrders")
    def get(self, query):
        """Orders, newest first: a buyer's purchases, a seller's sales, or all (admin)"""
        filters = orders.OrderFilters(**{name: query.get(name) for name in FILTERS})
        size = query["page_size"]
        if "cursor" in query or query["page"] == 1:
            page = orders.order_page(actor(), filters, cursor=query.get("cursor"), size=size)
        else:  # a numbered page: cheap while shallow, and capped (OrderQuerySchema)
            page = orders.numbered_order_page(actor(), filters, page=query["page"], size=size)
        links = [f'<{self.link(query, cursor)}>; rel="{rel}"'
                 for rel, cursor in (("next", page.next_cursor), ("prev", page.prev_cursor)) if cursor]
        metadata = {"page_size": size, "has_next": page.next_cursor is not None}
        if "cursor" not in query:
            metadata["page"] = query["page"]
        headers = {"X-Pagination": json.dumps(metadata)}
        if links:
            headers["Link"] = ", ".join(links)
        return page.items, 200, headers

    @staticmethod
    def link(query: dict, cursor: str) -> str:
        args = {key: query[name] for name, key in ARGUMENT_NAMES.items() if query.get(name) is not None}
        return url_for("orders.Orders", **args, cursor=cursor, page_size=query["page_size"])


@blp.route("/totals")
class OrderTotals(MethodView):
    @auth_required
    @blp.arguments(OrderFilterSchema(), location="query")
    @blp.response(200, OrderTotalsSchema, example=examples.ORDER_TOTALS)
    @blp.doc(operationId="getOrderTotals")
    def get(self, query):
        """The figures of the orders GET /orders lists with the same filters: orders, units, gross, refunds, net"""
        return orders.order_totals(actor(), orders.OrderFilters(**{name: query.get(name) for name in FILTERS}))


@blp.route("/<int(max=9223372036854775807):order_id>")
class OrderById(MethodView):
    @auth_required
    @blp.response(200, OrderSchema, example=examples.ORDER)
    @blp.error(404, "No such order, or not one this account bought, sold or may see")
    @blp.doc(operationId="getOrder")
    def get(self, order_id):
        """One order (its buyer, its seller or an operator)"""
        return orders.get_order(actor(), order_id)


@blp.route("/<int(max=9223372036854775807):order_id>/refund")
class RefundOrder(MethodView):
    @auth_required
    @blp.response(200, RefundSchema, example=examples.REFUND)
    @blp.error(403, "Only a buyer may do this")
    @blp.error(404, "No such order of this buyer")
    @blp.error(409, "Not refundable, already refunded, too late, or no coins to pay it")
    @blp.doc(operationId="refundOrder", **IDEMPOTENCY_DOC)
    def post(self, order_id):
        """Refund a whole order of a refundable product within the refund window (its buyer)"""
        config = current_app.config
        return run_idempotent(
            lambda: orders.refund(
                actor(), order_id, window_seconds=config["REFUND_WINDOW_SECONDS"], initial_float=config["INITIAL_FLOAT"]
            ),
            REFUND_REPLY,
        )
