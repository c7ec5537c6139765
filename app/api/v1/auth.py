from flask import current_app, request
from flask.views import MethodView

from app.api.base import EXPENSIVE_WORK_BUSY, RETRY_AFTER, VendingBlueprint
from app.api.v1 import examples
from app.api.v1.schemas import LoginResultSchema, LoginSchema, RevokedSchema, SessionSchema
from app.api.v1.security import actor, auth_required
from app.limits import login_check, login_limit_per_address, login_limit_per_username
from app.services import sessions

blp = VendingBlueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign in and sessions")


@blp.route("/login")
class Login(MethodView):
    @login_limit_per_address
    @login_limit_per_username
    @blp.arguments(LoginSchema(), example=examples.LOGIN)
    @blp.response(200, LoginResultSchema, example=examples.LOGIN_RESULT)
    @blp.error(401, "Wrong username or password",
               headers={"WWW-Authenticate": {"description": "Bearer", "required": True, "schema": {"type": "string"}}})
    @blp.error(429, "Too many attempts from this address or for this username", headers=RETRY_AFTER)
    @blp.error(503, EXPENSIVE_WORK_BUSY, headers=RETRY_AFTER)
    @blp.doc(operationId="login")
    def post(self, data):
        """Get a bearer token. Warns when the account already has an active session"""
        with login_check():
            result = sessions.login(
                data["username"],
                data["password"],
                kind="api",
                ttl_seconds=current_app.config["AUTH_TOKEN_TTL_SECONDS"],
                idle_seconds=current_app.config["SESSION_IDLE_TIMEOUT_SECONDS"],
                user_agent=request.headers.get("User-Agent"),
                client_address=request.remote_addr,
            )
        body = {
            "token": result.token,
            "expires_at": result.expires_at,
            "user": result.user,
            "active_sessions": result.other_active_sessions + 1,
        }
        if result.message:
            body["message"] = result.message
        return body


@blp.route("/logout")
class Logout(MethodView):
    @auth_required
    @blp.response(204)
    @blp.doc(operationId="logout")
    def post(self):
        """End this session"""
        sessions.end_session(actor(), actor().session_id)


@blp.route("/logout/all")
class LogoutAll(MethodView):
    @auth_required
    @blp.response(200, RevokedSchema, example=examples.REVOKED)
    @blp.doc(operationId="logoutEverywhere")
    def post(self):
        """End every session of the account, API tokens and browser sessions alike"""
        return {"revoked": sessions.end_all_sessions(actor().id)}


@blp.route("/sessions")
class Sessions(MethodView):
    @auth_required
    @blp.response(200, SessionSchema(many=True), example=examples.SESSIONS)
    @blp.doc(operationId="listSessions")
    def get(self):
        """The account's active sessions"""
        current = actor().session_id
        return [
            {
                "id": s.id,
                "kind": s.kind,
                "created_at": s.created_at,
                "last_seen_at": s.last_seen_at,
                "user_agent": s.user_agent,
                "client_network": s.client_network,
                "current": s.id == current,
            }
            for s in sessions.list_sessions(actor())
        ]


@blp.route("/sessions/<int:session_id>")
class SessionById(MethodView):
    @auth_required
    @blp.response(204)
    @blp.error(404, "No such session of this account")
    @blp.doc(operationId="endSession")
    def delete(self, session_id):
        """End one of the account's sessions"""
        sessions.end_session(actor(), session_id)
