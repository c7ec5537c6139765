"""Request and response schemas of API v1. Field names are the public contract (camelCase)."""

import marshmallow as ma
from marshmallow import fields, validate

from app.api.base import MAX_ID, Day, PageQuerySchema, StrictBoolean, StrictInteger, StrictSchema, Text
from app.data.pages import MAX_CURSOR_LENGTH
from app.services.coins import COINS
from app.services.errors import InvalidInput
from app.services.products import COST_MAX, NAME_MAX, STOCK_MAX, check_product_fields
from app.services.users import PASSWORD_MAX, PASSWORD_MIN, USERNAME_PATTERN, USERNAME_RULE
from app.services.vending import MAX_AMOUNT

_username = validate.Regexp(USERNAME_PATTERN, error=f"Username must be {USERNAME_RULE}.")
_password = validate.Length(min=PASSWORD_MIN, max=PASSWORD_MAX)


class RegisterSchema(StrictSchema):
    username = fields.String(required=True, validate=_username)
    password = Text(required=True, load_only=True, validate=_password)
    role = fields.String(load_default="buyer", validate=validate.OneOf(["buyer", "seller"]))


class UserSchema(ma.Schema):
    id = fields.Integer(dump_only=True)
    username = fields.String(dump_only=True)
    role = fields.String(dump_only=True)
    deposit = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True, data_key="createdAt")


class UserQuerySchema(PageQuerySchema):
    role = fields.String(validate=validate.OneOf(["buyer", "seller", "admin"]))


class PasswordChangeSchema(StrictSchema):
    current_password = fields.String(required=True, load_only=True, data_key="currentPassword",
                                     validate=validate.Length(max=PASSWORD_MAX))
    password = Text(required=True, load_only=True, validate=_password)


class CoinListSchema(ma.Schema):
    change = fields.List(fields.Integer(), metadata={"description": "Coins returned, largest first"})


class LoginSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=32))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=PASSWORD_MAX))


class LoginResultSchema(ma.Schema):
    token = fields.String()
    token_type = fields.Constant("Bearer", data_key="tokenType")
    expires_at = fields.DateTime(data_key="expiresAt")
    user = fields.Nested(UserSchema)
    active_sessions = fields.Integer(data_key="activeSessions",
                                     metadata={"description": "Active sessions of the account, this one included"})
    message = fields.String(metadata={"description": "Present when another session was already active"})


class RevokedSchema(ma.Schema):
    revoked = fields.Integer()


class SessionSchema(ma.Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "api or web"})
    created_at = fields.DateTime(data_key="createdAt")
    last_seen_at = fields.DateTime(data_key="lastSeenAt")
    user_agent = fields.String(data_key="userAgent", allow_none=True)
    client_network = fields.String(data_key="clientNetwork", allow_none=True, metadata={
        "description": "the network the session logged in from, its last part left out: 203.0.113.0/24 or "
                       "2001:db8:1::/48"})
    current = fields.Boolean()


class ProductSchema(ma.Schema):
    id = fields.Integer(dump_only=True)
    product_name = fields.String(data_key="productName")
    cost = fields.Integer()
    amount_available = fields.Integer(data_key="amountAvailable")
    seller_id = fields.Integer(data_key="sellerId", allow_none=True)
    refundable = fields.Boolean()
    has_image = fields.Boolean(data_key="hasImage", dump_only=True)
    created_at = fields.DateTime(data_key="createdAt", dump_only=True)
    updated_at = fields.DateTime(data_key="updatedAt", dump_only=True)


class ProductInputSchema(StrictSchema):
    product_name = Text(required=True, data_key="productName", validate=validate.Length(min=1, max=NAME_MAX),
                        metadata={"description": "Shown as typed: no control, text-direction or invisible characters "
                                                 "(the joiners of emoji and scripts excepted)"})
    cost = StrictInteger(required=True, validate=[validate.Range(min=5, max=COST_MAX)],
                         metadata={"description": "Cents, a positive multiple of 5"})
    amount_available = StrictInteger(required=True, data_key="amountAvailable",
                                     validate=validate.Range(min=0, max=STOCK_MAX))
    refundable = StrictBoolean(load_default=False)

    @ma.validates("cost")
    def _multiple_of_five(self, value, **_kwargs):
        if value % 5:
            raise ma.ValidationError("Cost must be a multiple of 5 cents.")

    @ma.validates("product_name")
    def _shown_as_typed(self, value, **_kwargs):
        """The service's rule for names (app.services.products): not blank, no control, direction or
        invisible characters."""
        try:
            check_product_fields({"product_name": value})
        except InvalidInput as refused:
            raise ma.ValidationError(refused.message) from None


class ProductPatchSchema(ProductInputSchema):
    """The same fields as ProductInputSchema, all optional (used with partial=True)."""


class ProductQuerySchema(PageQuerySchema):
    # a query string is text: a lenient Integer, bounded so it always fits the database's integers
    seller_id = fields.Integer(data_key="sellerId", validate=validate.Range(min=1, max=MAX_ID))
    in_stock = fields.Boolean(data_key="inStock")
    q = Text(validate=validate.Length(max=NAME_MAX))


class DepositSchema(StrictSchema):
    coin = StrictInteger(required=True, validate=validate.OneOf(COINS),
                         metadata={"description": "One coin: 5, 10, 20, 50 or 100 cents", "enum": list(COINS)})


def coins_field():
    return fields.Dict(keys=fields.String(), values=fields.Integer(),
                       metadata={"example": {str(c): 0 for c in COINS}})


class EscrowSchema(ma.Schema):
    deposit = fields.Integer()
    coins = fields.Method("dump_coins", metadata={
        "type": "object", "additionalProperties": {"type": "integer"},
        "description": "How many of each coin (5, 10, 20, 50, 100 cents) the buyer inserted"})

    def dump_coins(self, escrow):
        return {str(coin): escrow.coins[coin] for coin in COINS}


class BuySchema(StrictSchema):
    product_id = StrictInteger(required=True, data_key="productId", validate=validate.Range(min=1, max=MAX_ID))
    amount = StrictInteger(load_default=1, validate=validate.Range(min=1, max=MAX_AMOUNT))
    expected_cost = StrictInteger(
        data_key="expectedCost", validate=validate.Range(min=5, max=COST_MAX),
        metadata={"description": "The unit price in cents the buyer saw: if the product costs anything else "
                                 "now, the answer is 409 \"The price changed\" and nothing is bought"},
    )


class ProductSummarySchema(ma.Schema):
    id = fields.Integer()
    product_name = fields.String(data_key="productName")
    cost = fields.Integer()


class PurchaseSchema(ma.Schema):
    order_id = fields.Integer(attribute="order.id", data_key="orderId")
    product = fields.Nested(ProductSummarySchema)
    amount = fields.Integer(attribute="order.amount")
    total_spent = fields.Integer(attribute="order.total_spent", data_key="totalSpent")
    change = fields.List(fields.Integer())
    deposit = fields.Integer()


class CoinReturnSchema(ma.Schema):
    deposit = fields.Integer()
    change = fields.List(fields.Integer())


MAX_ORDER_PAGE = 100


class OrderFilterSchema(StrictSchema):
    """Which orders: those of the order list with these filters."""

    since = Day(metadata={"description": "First UTC day (YYYY-MM-DD), inclusive"})
    until = Day(metadata={"description": "Last UTC day (YYYY-MM-DD), inclusive"})
    seller_id = fields.Integer(data_key="sellerId", validate=validate.Range(min=1, max=MAX_ID))
    product_id = fields.Integer(data_key="productId", validate=validate.Range(min=1, max=MAX_ID))
    status = fields.String(validate=validate.OneOf(["paid", "refunded"]))


class OrderQuerySchema(OrderFilterSchema):
    """An order list: newest first, followed with the cursor of the Link header (rel="next"); `page`
    numbers are served for the first 100 pages only, since each deeper one would cost more."""

    cursor = Text(validate=validate.Length(min=1, max=MAX_CURSOR_LENGTH),
                           metadata={"description": 'From the Link header (rel="next" or rel="prev")'})
    page = fields.Integer(load_default=1, validate=validate.Range(
        min=1, max=MAX_ORDER_PAGE,
        error=f"Pages past {MAX_ORDER_PAGE} are not served: follow the Link header's rel=\"next\" cursor instead."))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))

    @ma.validates_schema
    def _cursor_or_page(self, data, **_kwargs):
        if "cursor" in data and data.get("page", 1) != 1:
            raise ma.ValidationError("Send a cursor or a page number, not both.", "page")


class OrderSchema(ma.Schema):
    id = fields.Integer()
    product_id = fields.Integer(data_key="productId")
    product_name = fields.String(data_key="productName")
    unit_cost = fields.Integer(data_key="unitCost")
    amount = fields.Integer()
    total_spent = fields.Integer(data_key="totalSpent")
    change = fields.List(fields.Integer())
    buyer_id = fields.Integer(data_key="buyerId")
    seller_id = fields.Integer(data_key="sellerId", allow_none=True)
    status = fields.String(metadata={"enum": ["paid", "refunded"]})
    refundable = fields.Boolean()
    created_at = fields.DateTime(data_key="createdAt")
    refunded_at = fields.DateTime(data_key="refundedAt", allow_none=True)


class OrderTotalsSchema(ma.Schema):
    """The figures of a set of orders, in cents: gross - refunds = net."""

    orders = fields.Integer(required=True, metadata={"description": "Orders, refunded ones included"})
    units = fields.Integer(required=True, metadata={"description": "Units of those orders"})
    gross = fields.Integer(required=True, metadata={
        "description": "Gross sales: what the orders cost when bought, refunded ones included (cents)"})
    refunds = fields.Integer(required=True, metadata={"description": "Refunds: what was paid back for them (cents)"})
    net = fields.Integer(required=True, metadata={"description": "Net sales: gross - refunds, what stands (cents)"})


class RefundSchema(ma.Schema):
    order_id = fields.Integer(attribute="order.id", data_key="orderId")
    refunded = fields.Integer(attribute="order.refunded_amount", metadata={"description": "Cents paid back"})
    change = fields.List(fields.Integer())


TubesSchema = StrictSchema.from_dict(
    {str(coin): StrictInteger(required=True, validate=validate.Range(min=0, max=1_000_000)) for coin in COINS},
    name="Tubes",
)
