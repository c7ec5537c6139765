from flask.views import MethodView

from app.api.base import EXPENSIVE_WORK_BUSY, PAGINATION_HEADERS, RETRY_AFTER, VendingBlueprint, page_headers
from app.api.v1 import examples
from app.api.v1.idempotent import IDEMPOTENCY_DOC, run_idempotent
from app.api.v1.schemas import CoinListSchema, PasswordChangeSchema, RegisterSchema, UserQuerySchema, UserSchema
from app.api.v1.security import account, actor, auth_required, own_account_or_admin
from app.data.pages import paginate
from app.limits import (
    password_change_check,
    password_change_limit_per_account,
    password_change_limit_per_address,
    registration_limit,
)
from app.services import users

DELETION_REPLY = CoinListSchema()

blp = VendingBlueprint("users", __name__, url_prefix="/api/v1/users", description="Accounts")


@blp.route("")
class Users(MethodView):
    @registration_limit
    @blp.arguments(RegisterSchema(), example=examples.REGISTER)
    @blp.response(201, UserSchema, example=examples.USER)
    @blp.error(409, "Username taken")
    @blp.error(422, "Invalid username, role or password, or a password too easy to guess")
    @blp.error(429, "Too many registrations from this address", headers=RETRY_AFTER)
    @blp.error(503, EXPENSIVE_WORK_BUSY, headers=RETRY_AFTER)
    @blp.doc(operationId="registerUser")
    def post(self, data):
        """Register as a buyer or a seller"""
        return users.register(data["username"], data["password"], data["role"])

    @auth_required
    @blp.arguments(UserQuerySchema(), location="query")
    @blp.response(200, UserSchema(many=True), headers=PAGINATION_HEADERS, example=examples.USERS)
    @blp.error(403, "Only an operator may list the users")
    @blp.doc(operationId="listUsers")
    def get(self, query):
        """List all users (admin)"""
        page = paginate(users.all_users(actor(), query.get("role")), page=query["page"], page_size=query["page_size"])
        return page.items, 200, page_headers(page)


@blp.route("/me")
class Me(MethodView):
    @auth_required
    @blp.response(200, UserSchema, example=examples.USER)
    @blp.doc(operationId="getCurrentUser")
    def get(self):
        """The signed-in user (read with the token check: one query)"""
        return account()


@blp.route("/<int:user_id>")
class UserById(MethodView):
    @auth_required
    @blp.response(200, UserSchema, example=examples.USER)
    @blp.error(403, "Not this user's account, and not an operator")
    @blp.error(404, "No such user")
    @blp.doc(operationId="getUser")
    def get(self, user_id):
        """One user (that user or an admin)"""
        return users.get_user(actor(), user_id)

    @auth_required
    @own_account_or_admin
    @password_change_limit_per_address
    @password_change_limit_per_account
    @blp.arguments(PasswordChangeSchema(), example=examples.PASSWORD_CHANGE)
    @blp.response(200, UserSchema, example=examples.USER)
    @blp.error(403, "Not this user's account, and not an operator")
    @blp.error(404, "No such user")
    @blp.error(422, "The current password is wrong, or the new one is invalid or too easy to guess")
    @blp.error(429, "Too many password attempts from this address or for this account", headers=RETRY_AFTER)
    @blp.error(503, EXPENSIVE_WORK_BUSY, headers=RETRY_AFTER)
    @blp.doc(operationId="changePassword")
    def patch(self, data, user_id):
        """Change the password; every other session of the account ends"""
        with password_change_check():
            users.change_password(actor(), user_id, data["current_password"], data["password"])
        return users.get_user(actor(), user_id)

    @auth_required
    @blp.response(200, CoinListSchema, example=examples.DELETED_ACCOUNT)
    @blp.error(403, "Not this user's account, and not an operator")
    @blp.error(404, "No such user")
    @blp.error(409, "The last operator account cannot be deleted")
    @blp.doc(operationId="deleteUser", **IDEMPOTENCY_DOC)
    def delete(self, user_id):
        """Delete an account; coins still in escrow are paid back"""
        return run_idempotent(lambda: users.delete_user(actor(), user_id), DELETION_REPLY)
