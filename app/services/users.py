"""Accounts: registration, password changes and deletion."""

import re
from dataclasses import dataclass

from sqlalchemy import Select, delete, select, update
from zxcvbn import zxcvbn

from app.data.transactions import write_transaction
from app.extensions import db
from app.models import Product, User
from app.services import expensive, passwords, sessions
from app.services.errors import Conflict, InvalidInput, NotFound, WrongCurrentPassword
from app.services.policy import Actor, require_role, require_self_or_admin
from app.services.vending import escrow_of, return_escrow

USERNAME_PATTERN = r"^[A-Za-z0-9_.\-]{3,32}$"
USERNAME_RULE = "3-32 characters: letters, digits, _ . -"
PASSWORD_MIN, PASSWORD_MAX = 8, 128
# zxcvbn's score: 0 and 1 are passwords found within a million guesses (lists of common passwords, names,
# keyboard walks, repeats and sequences); 2 and up are refused by no list.
MIN_PASSWORD_SCORE = 2
# zxcvbn judges this many leading characters. Its l33t matcher tries every reading of the symbols that stand for
# letters (4@ a, ({[< c, 1|! i, 1|7 l, $5 s ...), so its cost grows with how many distinct ones a password holds
# and with the square of its length: at most 27 ms of CPU for 12 characters here, 54 ms for 14 and 1.7-2 s for 72
# (zxcvbn's own limit); bench/strength.py measures it (bench/README.md, "Password strength"). A password weak in
# its first 12 characters is refused; one that is only strong past them needs a stronger start.
STRENGTH_PREFIX = 12
SELF_SERVICE_ROLES = ("buyer", "seller")
USERS = User.__table__
PRODUCTS = Product.__table__


@dataclass
class Deletion:
    change: list[int]


def check_username(username: str) -> None:
    if not isinstance(username, str) or not re.fullmatch(USERNAME_PATTERN, username):
        raise InvalidInput(f"Username must be {USERNAME_RULE}", field="username")


def check_password(password: str, field: str = "password") -> None:
    """The cheap rules of a new password: 8-128 characters, no NUL. Its strength is judged apart
    (judge_strength), after every cheap check and the authorization of the request."""
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidInput(f"Password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters", field=field)
    if "\x00" in password:
        raise InvalidInput("Password must not contain NUL characters", field=field)


def _strength(password: str, username: str | None) -> dict:
    return zxcvbn(password[:STRENGTH_PREFIX], user_inputs=[username] if username else [])


def judge_strength(password: str, field: str = "password", username: str | None = None) -> None:
    """Refuse a new password that is common or easy to guess (zxcvbn, which also knows the account's own name),
    judged on its first STRENGTH_PREFIX characters inside the cap on expensive work (Busy when it is full).
    Only new passwords are judged: logins never are, so existing accounts keep working."""
    strength = expensive.run(_strength, password, username)
    if strength["score"] < MIN_PASSWORD_SCORE:
        warning = strength["feedback"]["warning"].rstrip(".")
        reason = f": {warning[:1].lower()}{warning[1:]}" if warning else ""
        start = f" in its first {STRENGTH_PREFIX} characters" if len(password) > STRENGTH_PREFIX else ""
        raise InvalidInput(f"Password is too common or too easy to guess{start}{reason}; "
                           "add a few uncommon words", field=field)


def register(username: str, password: str, role: str, *, allow_admin: bool = False) -> User:
    """Create an account. `admin` only through the create-admin command. The cheap checks come first."""
    check_username(username)
    check_password(password)
    if role not in SELF_SERVICE_ROLES and not (allow_admin and role == "admin"):
        raise InvalidInput("Role must be buyer or seller", field="role")
    password_hash = expensive.run(_judged_hash, password, username)  # slow: outside the write transaction
    return _insert_user(username, password_hash, role)


def _judged_hash(password: str, username: str) -> str:
    """The new password's strength and hash, in one slot of the cap on expensive work."""
    judge_strength(password, username=username)
    return passwords.hash_password(password)


@write_transaction
def _insert_user(username: str, password_hash: str, role: str) -> User:
    if db.session.scalar(select(User.id).where(User.username_key == username.lower())) is not None:
        raise Conflict("That username is taken", {"username": ["That username is taken"]})
    user = User(username=username, username_key=username.lower(), password_hash=password_hash, role=role)
    db.session.add(user)
    db.session.flush()
    return user


def get_user(actor: Actor, user_id: int) -> User:
    require_self_or_admin(actor, user_id)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user")
    return user


def username_key_of(user_id: int) -> str | None:
    """The account's case-folded username (what its logins are counted by), or None when there is none."""
    return db.session.scalar(select(User.username_key).where(User.id == user_id))


def all_users(actor: Actor, role: str | None = None) -> Select:
    require_role(actor, "admin")
    stmt = select(User).order_by(User.id)
    if role:
        stmt = stmt.where(User.role == role)
    return stmt


def change_password(actor: Actor, user_id: int, current_password: str, new_password: str) -> int:
    """Change the password and end every other session of the account; returns how many ended.

    In order of cost: who may (403), the cheap rules of the new password, the current password (argon2), then
    the new one's strength (zxcvbn) and its hash; the last three inside the cap on expensive work."""
    user = get_user(actor, user_id)
    check_password(new_password)
    username, stored_hash = user.username, user.password_hash
    db.session.rollback()
    new_hash = expensive.run(_checked_new_hash, stored_hash, current_password, new_password, username)
    keep = actor.session_id if actor.id == user_id else None
    return _store_password(user_id, new_hash, keep)


def _checked_new_hash(stored_hash: str, current_password: str, new_password: str, username: str) -> str:
    """The current password verified, then the new one judged and hashed: in one slot of the cap."""
    if not passwords.verify_password(stored_hash, current_password):
        raise WrongCurrentPassword()
    return _judged_hash(new_password, username)


@write_transaction
def _store_password(user_id: int, new_hash: str, keep_session_id: int | None) -> int:
    db.session.execute(update(USERS).where(USERS.c.id == user_id).values(password_hash=new_hash))
    return sessions.revoke_sessions(user_id, except_session_id=keep_session_id)


@write_transaction
def delete_user(actor: Actor, user_id: int) -> Deletion:
    """Delete an account. A buyer's escrow is paid back; a seller's products go off sale."""
    require_self_or_admin(actor, user_id)
    role = db.session.scalar(select(User.role).where(User.id == user_id))  # a role never changes
    if role == "admin":
        # Every operator row is locked (in id order) before counting them: two operators deleting themselves at
        # once then count one after the other, and the second sees the first gone, so one operator always stays.
        admins = db.session.scalars(select(User.id).where(User.role == "admin").order_by(User.id)
                                    .with_for_update()).all()
        if user_id in admins and len(admins) <= 1:
            raise Conflict("The last operator account cannot be deleted")
    user = db.session.execute(select(User).where(User.id == user_id).with_for_update()).scalar_one_or_none()
    if user is None:
        raise NotFound("No such user")
    change = return_escrow(user.id, escrow_of(user))
    db.session.execute(
        update(PRODUCTS).where(PRODUCTS.c.seller_id == user.id).values(on_sale=False, seller_id=None)
    )
    db.session.execute(delete(USERS).where(USERS.c.id == user.id))
    return Deletion(change)
