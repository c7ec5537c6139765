"""Prometheus metrics at GET /metrics, correct across gunicorn's worker processes.

What is counted:
- `vending_http_requests_total{method, route, status}` and `vending_http_request_duration_seconds{method, route}`
  (a histogram): every request, by URL rule (never a raw path, so the label values stay few);
- `vending_money_operations_total{operation, channel}`: deposits, buys, refunds, coin returns (`reset`) and
  account deletions that went through, on the API or the web pages; `vending_change_impossible_total{operation,
  channel}`: buys and refunds refused because the tubes cannot pay the change; `vending_idempotent_replays_total
  {operation}`: money requests answered from their Idempotency-Key's stored reply;
- `vending_read_cache_hits_total`, `vending_read_cache_misses_total`: the catalogue's per-worker copies
  (app.data.cache.ReadCache's own counts, added up here after each request);
- `vending_db_connections_in_use`: pooled database connections checked out right now, all workers together.

Multiprocess: under gunicorn, PROMETHEUS_MULTIPROC_DIR names a folder where each worker writes its values
(gunicorn_cfg.py makes one when it is not set, empties it at start and tidies up after a worker exits); any
worker answers a scrape with the sum of all. prometheus_client decides that mode when it is first imported, so
it is imported lazily, in the worker, never in the preloading master. Without the variable (flask run, tests)
the values live in this process.

Who may read it: /metrics is served on each app server's own port, for Prometheus on the private network
(`app1:8000/metrics`). nginx answers /metrics with a 404 itself, and the app refuses (404) a request that came
through a proxy (it carries X-Forwarded-For), so a misconfigured proxy does not publish it either.
METRICS_ENABLED=0 turns it off.
"""

import os
import threading
import time
import weakref

from flask import Blueprint, Flask, Response, abort, current_app, request
from sqlalchemy import event

from app.logs import ROUTE, STARTED, note_route
from app.services.errors import ChangeImpossible

bp = Blueprint("metrics", __name__)

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
MONEY_ROUTES = {
    "/api/v1/deposit": "deposit",
    "/api/v1/buy": "buy",
    "/api/v1/reset": "reset",
    "/api/v1/orders/<int:order_id>/refund": "refund",
    "/api/v1/users/<int:user_id>": "account_deletion",
}
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The process's metric objects (one set per process: in multiprocess mode two objects of one name in a
    process would overwrite each other's values)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # Multiprocess: values go to files and a scrape collects the files; a registry would export them twice.
        self.registry = None if self.multiprocess else CollectorRegistry()
        reg = self.registry
        self.requests = Counter("vending_http_requests", "HTTP requests answered", ["method", "route", "status"],
                                registry=reg)
        self.latency = Histogram("vending_http_request_duration_seconds", "Time to answer a request",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=reg)
        self.money = Counter("vending_money_operations", "Money operations that went through",
                             ["operation", "channel"], registry=reg)
        self.change_impossible = Counter("vending_change_impossible", "Buys and refunds refused: no exact change",
                                         ["operation", "channel"], registry=reg)
        self.replays = Counter("vending_idempotent_replays", "Money requests answered from an Idempotency-Key",
                               ["operation"], registry=reg)
        self.cache_hits = Counter("vending_read_cache_hits", "Catalogue reads served from a worker's copy",
                                  registry=reg)
        self.cache_misses = Counter("vending_read_cache_misses", "Catalogue reads that went to the database",
                                    registry=reg)
        self.connections = Gauge("vending_db_connections_in_use", "Pooled database connections checked out",
                                 multiprocess_mode="livesum", registry=reg)
        self.pid = os.getpid()
        self._cache_seen: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def sync_cache(self, cache) -> None:
        """Add what the read cache counted since the last look (its counters are plain attributes)."""
        with self._lock:
            hits, misses = self._cache_seen.get(cache, (0, 0))
            if cache.hits > hits:
                self.cache_hits.inc(cache.hits - hits)
            if cache.misses > misses:
                self.cache_misses.inc(cache.misses - misses)
            self._cache_seen[cache] = (max(hits, cache.hits), max(misses, cache.misses))

    def exposition(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess

        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


_process: dict[str, Metrics] = {}
_process_lock = threading.Lock()


def process_metrics() -> Metrics:
    """This process's metrics, made on first use (after gunicorn's fork)."""
    metrics = _process.get("metrics")
    if metrics is None or metrics.pid != os.getpid():
        with _process_lock:
            metrics = _process.get("metrics")
            if metrics is None or metrics.pid != os.getpid():
                metrics = _process["metrics"] = Metrics()
    return metrics


# ---------------------------------------------------------------- money, called by the API and the web pages


def is_change_impossible(message: str | None) -> bool:
    """A buy or refund refused because the tubes cannot pay exactly (the services' wording for both)."""
    return bool(message) and message.startswith(ChangeImpossible.PREFIX)


def money_done(operation: str, channel: str) -> None:
    process_metrics().money.labels(operation, channel).inc()


def money_refused(operation: str, channel: str, message: str | None) -> None:
    if is_change_impossible(message):
        process_metrics().change_impossible.labels(operation, channel).inc()


def money_replayed(operation: str) -> None:
    process_metrics().replays.labels(operation).inc()


def api_money_operation() -> str:
    """The money operation of this API request, by its URL rule."""
    return MONEY_ROUTES.get(request.url_rule.rule if request.url_rule else "", "other")


# ---------------------------------------------------------------- requests, the cache and the pool


def observe_request(response: Response) -> Response:
    note_route()
    method = request.method if request.method in METHODS else "OTHER"
    route = request.environ[ROUTE]
    metrics = process_metrics()
    metrics.requests.labels(method, route, str(response.status_code)).inc()
    started = request.environ.get(STARTED)
    if started is not None:
        metrics.latency.labels(method, route).observe(time.perf_counter() - started)
    cache = current_app.extensions.get("read_cache")
    if cache is not None:
        metrics.sync_cache(cache)
    return response


def _checked_out(*_args) -> None:
    process_metrics().connections.inc()


def _checked_in(*_args) -> None:
    process_metrics().connections.dec()


@bp.get("/metrics")
def metrics_page():
    if not current_app.config.get("METRICS_ENABLED", True) or "X-Forwarded-For" in request.headers:
        abort(404)
    from prometheus_client import CONTENT_TYPE_LATEST

    response = Response(process_metrics().exposition(), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_metrics(app: Flask, engine) -> None:
    app.register_blueprint(bp)
    app.after_request(observe_request)
    if not event.contains(engine, "checkout", _checked_out):
        event.listen(engine, "checkout", _checked_out)
        event.listen(engine, "checkin", _checked_in)
