"""sessions service: tokens, expiry, ending sessions."""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import AuthSession
from app.services import sessions
from app.services.errors import NotFound, Unauthorized
from app.services.policy import Actor


@pytest.fixture
def ann(make_account):
    return make_account("seller", "ann", "ann-password")


def login(**kwargs):
    return sessions.login("ann", "ann-password", kind=kwargs.pop("kind", "api"), ttl_seconds=60,
                          user_agent=kwargs.pop("user_agent", None))


def test_login_counts_other_sessions_and_warns(app, ann):
    result = login()
    assert result.other_active_sessions == 1 and result.message == sessions.ACTIVE_SESSION_MESSAGE
    assert result.token.startswith(sessions.TOKEN_PREFIX) and len(result.token) >= 43
    row = db.session.get(AuthSession, result.session_id)
    assert row.token_hash == hashlib.sha256(result.token.encode()).hexdigest() and row.kind == "api"


def test_first_login_has_no_message(app, ann):
    sessions.end_all_sessions(ann.id)
    result = login(kind="web")
    assert result.other_active_sessions == 0 and result.message is None


def test_login_is_case_insensitive_and_refuses_bad_credentials(app, ann):
    assert sessions.login("ANN", "ann-password", kind="api", ttl_seconds=60, user_agent=None).user.id == ann.id
    for username, password in (("ann", "nope-nope"), ("bob", "ann-password")):
        with pytest.raises(Unauthorized):
            sessions.login(username, password, kind="api", ttl_seconds=60, user_agent=None)


def test_authenticate_gives_the_actor(app, ann):
    actor, account = sessions.authenticate(ann.token)
    assert actor == Actor(ann.id, "seller", ann.session_id)
    assert (account.id, account.username, account.role, account.deposit) == (ann.id, "ann", "seller", 0)
    with pytest.raises(Unauthorized):
        sessions.authenticate("vm_unknown")


def test_expired_sessions_do_not_authenticate_or_count(app, ann):
    db.session.execute(update(AuthSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    db.session.commit()
    with pytest.raises(Unauthorized):
        sessions.authenticate(ann.token)
    assert sessions.active_session_count(ann.id) == 0
    assert sessions.list_sessions(ann.actor) == []
    assert sessions.session_exists(ann.session_id) is False
    assert login().message is None  # the expired row was not counted (and is cleaned up)
    db.session.rollback()
    old_hash = sessions.hash_token(ann.token)
    assert db.session.scalar(select(AuthSession.id).where(AuthSession.token_hash == old_hash)) is None


def test_end_session_only_own(app, ann, buyer):
    with pytest.raises(NotFound):
        sessions.end_session(buyer.actor, ann.session_id)
    assert sessions.session_exists(ann.session_id)
    sessions.end_session(ann.actor, ann.session_id)
    assert not sessions.session_exists(ann.session_id)
    with pytest.raises(Unauthorized):
        sessions.authenticate(ann.token)


def test_end_all_sessions_optionally_keeps_one(app, ann, buyer):
    keep = login()
    login(kind="web")
    assert sessions.end_all_sessions(ann.id, except_session_id=keep.session_id) == 2
    assert [s.id for s in sessions.list_sessions(ann.actor)] == [keep.session_id]
    assert sessions.end_all_sessions(ann.id) == 1
    assert sessions.active_session_count(ann.id) == 0
    assert sessions.session_exists(buyer.session_id)


def test_list_sessions_newest_first(app, ann):
    newer = login(user_agent="curl")
    listed = sessions.list_sessions(ann.actor)
    assert [s.id for s in listed] == [newer.session_id, ann.session_id]
    assert listed[0].user_agent == "curl"
    assert db.session.scalar(select(AuthSession.user_agent).where(AuthSession.id == ann.session_id)) == "pytest"


def _last_seen(session_id: int) -> datetime:
    db.session.rollback()
    value = db.session.scalar(select(AuthSession.last_seen_at).where(AuthSession.id == session_id))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _set_last_seen(session_id: int, value: datetime) -> None:
    """What a touch by another worker does (it leaves cached checks valid)."""
    db.session.execute(update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=value),
                       execution_options={"read_cache_neutral": True})
    db.session.commit()


def test_activity_is_recorded_at_most_once_a_minute(app, ann):
    """A session idle for two minutes is touched by its next request; the one after that writes nothing."""
    result = login()
    _set_last_seen(result.session_id, datetime.now(UTC) - timedelta(minutes=2))

    sessions.authenticate(result.token)
    touched = _last_seen(result.session_id)
    assert datetime.now(UTC) - touched < timedelta(seconds=5)

    _set_last_seen(result.session_id, touched - timedelta(seconds=30))
    sessions.authenticate(result.token)
    assert _last_seen(result.session_id) == touched - timedelta(seconds=30)


def test_a_late_touch_does_not_overwrite_a_more_recent_one(app, ann):
    """Two workers that read the session before either touched it: only the first touch is written."""
    result = sessions.login("ann", "ann-password", kind="api", ttl_seconds=3600, user_agent=None)
    recent = datetime.now(UTC) + timedelta(seconds=50)  # another worker touched it "later"
    _set_last_seen(result.session_id, recent)

    sessions._write_last_seen(result.session_id, datetime.now(UTC) + timedelta(seconds=90))

    assert _last_seen(result.session_id) == recent
