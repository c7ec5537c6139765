"""users service: the account rules without HTTP."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuthSession, Product, User
from app.services import passwords, sessions, users
from app.services.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from app.services.policy import Actor
from tests.api.conftest import give_escrow
from tests.factories import make_product


def test_register_stores_a_hash_and_a_lowercase_key(app):
    user = users.register("Ann.B", "ann-password", "seller")
    db.session.rollback()
    row = db.session.get(User, user.id)
    assert (row.username, row.username_key, row.role, row.deposit) == ("Ann.B", "ann.b", "seller", 0)
    assert passwords.verify_password(row.password_hash, "ann-password")


@pytest.mark.parametrize("username, password, role, field", [
    ("ab", "ann-password", "buyer", "username"),
    ("a" * 33, "ann-password", "buyer", "username"),
    ("bad name", "ann-password", "buyer", "username"),
    (None, "ann-password", "buyer", "username"),
    ("ann", "p" * 7, "buyer", "password"),
    ("ann", "p" * 129, "buyer", "password"),
    ("ann", "pass\x00word", "buyer", "password"),
    ("ann", "ann-password", "admin", "role"),
    ("ann", "ann-password", "root", "role"),
])
def test_register_rejects_invalid_input(app, username, password, role, field):
    with pytest.raises(InvalidInput) as raised:
        users.register(username, password, role)
    assert raised.value.field == field and raised.value.http_status == 422
    assert db.session.scalar(select(User.id)) is None


def test_admin_only_with_allow_admin(app):
    assert users.register("root", "root-password", "admin", allow_admin=True).role == "admin"


def test_duplicate_username_is_a_conflict(app):
    users.register("Ann", "ann-password", "buyer")
    with pytest.raises(Conflict):
        users.register("aNN", "ann-password", "seller")


def test_get_user_self_or_admin(app, buyer, other_buyer, admin):
    assert users.get_user(buyer.actor, buyer.id).id == buyer.id
    assert users.get_user(admin.actor, buyer.id).id == buyer.id
    with pytest.raises(Forbidden):
        users.get_user(other_buyer.actor, buyer.id)
    with pytest.raises(NotFound):
        users.get_user(admin.actor, 99999)


def test_all_users_is_for_admins(app, buyer, seller, admin):
    assert [u.id for u in db.session.scalars(users.all_users(admin.actor))] == [buyer.id, seller.id, admin.id]
    assert [u.id for u in db.session.scalars(users.all_users(admin.actor, "seller"))] == [seller.id]
    for account in (buyer, seller):
        with pytest.raises(Forbidden):
            users.all_users(account.actor)


def test_change_password_ends_the_other_sessions(app, make_account):
    ann = make_account("buyer", "ann", "old-password")
    other = sessions.login("ann", "old-password", kind="web", ttl_seconds=60, idle_seconds=3600,
                           user_agent=None, client_address=None)

    ended = users.change_password(ann.actor, ann.id, "old-password", "new-password")

    assert ended == 1
    assert [s.id for s in db.session.scalars(select(AuthSession))] == [ann.session_id]
    with pytest.raises(Unauthorized):
        sessions.authenticate(other.token)
    assert sessions.login("ann", "new-password", kind="api", ttl_seconds=60, idle_seconds=3600,
                          user_agent=None, client_address=None).user.id == ann.id


def test_change_password_needs_the_current_one(app, make_account):
    ann = make_account("buyer", "ann", "old-password")
    with pytest.raises(InvalidInput) as raised:
        users.change_password(ann.actor, ann.id, "wrong-password", "new-password")
    assert raised.value.http_status == 422
    assert "currentPassword" in raised.value.errors
    db.session.rollback()
    assert passwords.verify_password(db.session.get(User, ann.id).password_hash, "old-password")


def test_change_password_checks_the_new_one_and_the_caller(app, make_account, other_buyer):
    ann = make_account("buyer", "ann", "old-password")
    with pytest.raises(InvalidInput):
        users.change_password(ann.actor, ann.id, "old-password", "short")
    with pytest.raises(Forbidden):
        users.change_password(other_buyer.actor, ann.id, "old-password", "new-password")


def test_delete_buyer_returns_escrow(app, buyer, admin):
    give_escrow(buyer.id, {100: 1, 5: 2})
    assert users.delete_user(buyer.actor, buyer.id).change == [100, 5, 5]
    assert db.session.get(User, buyer.id) is None
    assert db.session.scalar(select(AuthSession.id).where(AuthSession.user_id == buyer.id)) is None


def test_delete_seller_takes_products_off_sale(app, seller, other_seller, admin):
    mine = make_product(seller)
    theirs = make_product(other_seller)
    users.delete_user(admin.actor, seller.id)
    db.session.rollback()
    assert db.session.get(Product, mine.id).on_sale is False
    assert db.session.get(Product, theirs.id).on_sale is True


def test_delete_rules(app, buyer, other_buyer, admin):
    with pytest.raises(Forbidden):
        users.delete_user(other_buyer.actor, buyer.id)
    with pytest.raises(NotFound):
        users.delete_user(admin.actor, 99999)
    with pytest.raises(Conflict):
        users.delete_user(admin.actor, admin.id)
    second = users.register("root2", "root-password", "admin", allow_admin=True)
    assert users.delete_user(Actor(second.id, "admin"), admin.id).change == []
