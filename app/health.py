"""Health checks for load balancers, orchestrators and operators.

GET /livez: the process answers (restart it when this fails).
GET /readyz (and /healthz, its older name): 200 while the database takes a committed write, 503 (send no
traffic here) while it does not: the database is the one thing this server cannot serve without.
Redis is reported in the body but never fails readiness: without it every request still works (rate-limit
counters fall back to each process, the catalogue is read from the database), and every app server shares
one Redis, so a 503 for it would take them all out of rotation at the same moment. The body then says
`"status": "degraded"` with `"redis": "unreachable"`, for monitoring to alert on.
"""

import logging

import redis
from flask import Blueprint, current_app, jsonify
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from app.data.outages import outage_of
from app.data.transactions import Contention, write_transaction
from app.extensions import db
from app.models import HealthCheck
from app.models.columns import utcnow

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)
REDIS_TIMEOUT_SECONDS = 0.5


def _answer(body: dict, status: int = 200):
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


@bp.get("/livez")
def livez():
    return _answer({"status": "ok"})


@write_transaction
def _write_probe() -> None:
    """Rewrite the one health-check row: proves the database is writable and has room for a commit."""
    table = HealthCheck.__table__
    if not db.session.execute(update(table).where(table.c.id == 1).values(checked_at=utcnow())).rowcount:
        db.session.add(HealthCheck(id=1, checked_at=utcnow()))
    db.session.execute(select(table.c.id).where(table.c.id == 1))


def database_state() -> str:
    try:
        _write_probe()
    except Contention:
        return "busy"
    except SQLAlchemyError as error:
        outage = outage_of(error)
        state = "storage unavailable" if outage is not None and outage.kind == "storage unavailable" else "unreachable"
        log.warning("readiness: database %s (%s)", state, error.__class__.__name__)
        return state
    finally:
        db.session.remove()
    return "ok"


def redis_urls() -> dict[str, str]:
    """The Redis servers this app uses, by what it uses them for."""
    urls = {"rate limits": current_app.config.get("RATELIMIT_STORAGE_URI") or "",
            "catalogue cache": current_app.config.get("CACHE_VERSIONS") or ""}
    return {use: url for use, url in urls.items() if url.startswith(("redis://", "rediss://", "unix://"))}


def redis_state() -> str:
    urls = redis_urls()
    if not urls:
        return "not configured"
    for use, url in urls.items():
        client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                      socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
        try:
            client.ping()
        except redis.RedisError as error:
            log.warning("readiness: Redis for %s unreachable (%s)", use, error.__class__.__name__)
            return "unreachable"
        finally:
            client.close()
    return "ok"


@bp.get("/readyz")
@bp.get("/healthz")
def readyz():
    database, redis_ = database_state(), redis_state()
    ready = database in ("ok", "busy")
    if not ready:
        status = "unavailable"
    elif redis_ in ("ok", "not configured"):
        status = "ok"
    else:
        status = "degraded"
    return _answer({"status": status, "database": database, "redis": redis_}, 200 if ready else 503)
