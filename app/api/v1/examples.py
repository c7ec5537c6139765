"""Examples for the OpenAPI document: one story told through every request body and every reply.

The buyer ann inserts 100 + 50 cents, buys 2 Colas at 35 cents from the seller sam and gets 80 cents back.
tests/api/test_openapi.py checks each example against its schema, and schemathesis the schemas against the app.
"""

CREATED_AT = "2026-11-30T09:15:00.000000+00:00"
UPDATED_AT = "2026-11-30T09:20:00.000000+00:00"
BOUGHT_AT = "2026-11-30T09:30:00.000000+00:00"

# accounts and sessions
REGISTER = {"username": "ann", "password": "correct-horse-battery", "role": "buyer"}
USER = {"id": 2, "username": "ann", "role": "buyer", "deposit": 0, "createdAt": CREATED_AT}
USERS = [USER, {"id": 3, "username": "sam", "role": "seller", "deposit": 0, "createdAt": CREATED_AT}]
PASSWORD_CHANGE = {"currentPassword": "correct-horse-battery", "password": "staple-orbit-lantern-42"}
DELETED_ACCOUNT = {"change": [100, 50]}
LOGIN = {"username": "ann", "password": "correct-horse-battery"}
LOGIN_RESULT = {
    "token": "vm_u3-zhA3Q9V7cDNWyEJ4-VFAvOf7qlJ4mHAo8YUHJ1II",
    "tokenType": "Bearer",
    "expiresAt": "2026-11-30T21:15:00.000000+00:00",
    "user": USER,
    "activeSessions": 2,
    "message": "There is already an active session using your account",
}
REVOKED = {"revoked": 2}
SESSIONS = [
    {"id": 12, "kind": "api", "createdAt": CREATED_AT, "lastSeenAt": BOUGHT_AT, "userAgent": "vending-app/1.4",
     "clientNetwork": "203.0.113.0/24", "current": True},
    {"id": 9, "kind": "web", "createdAt": CREATED_AT, "lastSeenAt": UPDATED_AT, "userAgent": None,
     "clientNetwork": "2001:db8:1::/48", "current": False},
]

# the catalogue
PRODUCT_INPUT = {"productName": "Cola", "cost": 35, "amountAvailable": 10, "refundable": True}
PRODUCT_PATCH = {"cost": 40}
PRODUCT = {
    "id": 1, "productName": "Cola", "cost": 35, "amountAvailable": 10, "sellerId": 3, "refundable": True,
    "hasImage": False, "createdAt": CREATED_AT, "updatedAt": UPDATED_AT,
}
PRODUCTS = [
    PRODUCT,
    {"id": 4, "productName": "Crisps", "cost": 50, "amountAvailable": 0, "sellerId": 3, "refundable": False,
     "hasImage": True, "createdAt": CREATED_AT, "updatedAt": UPDATED_AT},
]

# the machine
DEPOSIT = {"coin": 50}
ESCROW = {"deposit": 150, "coins": {"5": 0, "10": 0, "20": 0, "50": 1, "100": 1}}
BUY = {"productId": 1, "amount": 2, "expectedCost": 35}
PURCHASE = {
    "orderId": 1, "product": {"id": 1, "productName": "Cola", "cost": 35}, "amount": 2, "totalSpent": 70,
    "change": [50, 20, 10], "deposit": 0,
}
COIN_RETURN = {"deposit": 0, "change": [100, 50]}
TUBES = {"5": 40, "10": 40, "20": 40, "50": 20, "100": 10}

# orders
ORDER = {
    "id": 1, "productId": 1, "productName": "Cola", "unitCost": 35, "amount": 2, "totalSpent": 70,
    "change": [50, 20, 10], "buyerId": 2, "sellerId": 3, "status": "paid", "refundable": True,
    "createdAt": BOUGHT_AT, "refundedAt": None,
}
ORDERS = [ORDER]
REFUND = {"orderId": 1, "refunded": 70, "change": [50, 20]}
ORDER_TOTALS = {"orders": 7, "units": 9, "gross": 410, "refunds": 105, "net": 305}

# refusals worth showing
TOO_LITTLE_DEPOSIT = {
    "code": 409, "status": "Conflict",
    "message": "Insufficient deposit: €0.70 needed, €0.50 inserted; insert €0.20 more",
}
