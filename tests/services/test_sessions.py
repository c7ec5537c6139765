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
                          idle_seconds=kwargs.pop("idle_seconds", 3600), user_agent=kwargs.pop("user_agent", None),
                          client_address=kwargs.pop("client_address", None))


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
    assert sessions.login("ANN", "ann-password", kind="api", ttl_seconds=60, idle_seconds=3600,
                          user_agent=None, client_address=None).user.id == ann.id
    for username, password in (("ann", "nope-nope"), ("bob", "ann-password")):
        with pytest.raises(Unauthorized):
            sessions.login(username, password, kind="api", ttl_seconds=60, idle_seconds=3600,
                           user_agent=None, client_address=None)


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
    result = sessions.login("ann", "ann-password", kind="api", ttl_seconds=3600, idle_seconds=3600,
                            user_agent=None, client_address=None)
    recent = datetime.now(UTC) + timedelta(seconds=50)  # another worker touched it "later"
    _set_last_seen(result.session_id, recent)

    later = datetime.now(UTC) + timedelta(seconds=90)
    sessions._write_last_seen(result.session_id, later, later + timedelta(hours=1))

    assert _last_seen(result.session_id) == recent


# ---------------------------------------------------------------- idle sessions end on their own

IDLE = timedelta(hours=2)


def _age(session_id: int, by: timedelta) -> None:
    """Move a session back in time by `by`, as if that long had passed without a request."""
    row = db.session.get(AuthSession, session_id)
    values = {name: getattr(row, name) - by for name in ("created_at", "last_seen_at", "idle_until")}
    db.session.execute(update(AuthSession).where(AuthSession.id == session_id).values(**values),
                       execution_options={"read_cache_neutral": True})
    db.session.commit()


def test_a_session_idle_past_the_limit_ends_and_stops_counting(app, ann):
    idle = login(idle_seconds=int(IDLE.total_seconds()))
    kept = login(idle_seconds=int(IDLE.total_seconds()))
    _age(idle.session_id, IDLE + sessions.LAST_SEEN_RESOLUTION + timedelta(seconds=1))

    with pytest.raises(Unauthorized, match="Your session ended after 2 hours without activity; please log in again"):
        sessions.authenticate(idle.token)
    assert not sessions.session_exists(idle.session_id)
    assert {s.id for s in sessions.list_sessions(ann.actor)} == {ann.session_id, kept.session_id}
    assert sessions.active_session_count(ann.id) == 2
    assert sessions.purge_expired(datetime.now(UTC), batch=10) == 1
    db.session.rollback()
    assert db.session.get(AuthSession, idle.session_id) is None
    assert sessions.authenticate(kept.token)[0].session_id == kept.session_id


def test_a_session_used_within_the_limit_stays_however_long_it_lasts(app, ann):
    """Requests 100 minutes apart, for five hours: each one moves the idle deadline on by two hours."""
    result = login(idle_seconds=int(IDLE.total_seconds()))
    db.session.execute(update(AuthSession).where(AuthSession.id == result.session_id)
                       .values(expires_at=datetime.now(UTC) + timedelta(hours=12)))
    db.session.commit()
    for _ in range(3):
        _age(result.session_id, timedelta(minutes=100))
        assert sessions.authenticate(result.token)[0].session_id == result.session_id
    row = db.session.get(AuthSession, result.session_id)
    assert row.idle_until - row.last_seen_at == IDLE + sessions.LAST_SEEN_RESOLUTION


def test_the_idle_limit_counts_from_the_last_request_even_when_it_was_not_recorded(app, ann):
    """Activity is written at most once a minute: a request 59 s after the recorded one writes nothing, and the
    session must still last the whole limit after that request."""
    result = login(idle_seconds=int(IDLE.total_seconds()))
    _age(result.session_id, timedelta(seconds=59))
    sessions.authenticate(result.token)  # not recorded: within the minute
    _age(result.session_id, IDLE - timedelta(seconds=1))  # idle since that request: 1 s short of the limit
    assert sessions.authenticate(result.token)[0].session_id == result.session_id


def test_a_session_keeps_its_clients_network_not_its_address(app, ann):
    web = login(kind="web", client_address="203.0.113.77")
    api = login(client_address="2001:db8:1:2::5")
    listed = {s.id: s.client_network for s in sessions.list_sessions(ann.actor)}
    assert listed[web.session_id] == "203.0.113.0/24" and listed[api.session_id] == "2001:db8:1::/48"
    assert listed[ann.session_id] is None


@pytest.mark.parametrize(("address", "network"), [
    ("198.51.100.200", "198.51.100.0/24"),
    ("::ffff:198.51.100.200", "198.51.100.0/24"),
    ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
    ("127.0.0.1", "127.0.0.0/24"),
    (None, None), ("", None), ("unix:/run/app.sock", None), ("999.1.1.1", None),
])
def test_client_network(address, network):
    assert sessions.client_network(address) == network
