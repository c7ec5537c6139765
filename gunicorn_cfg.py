"""gunicorn settings, all overridable from the environment: gunicorn -c gunicorn_cfg.py run:app

GUNICORN_BIND       127.0.0.1:8000 (0.0.0.0:8000 inside the container, behind nginx)
GUNICORN_WORKERS    2 x cores + 1, at most 9
GUNICORN_THREADS    4 threads per worker (gthread): requests mostly wait on PostgreSQL
GUNICORN_TIMEOUT    30 s before a silent worker is killed and replaced
GUNICORN_GRACEFUL_TIMEOUT  20 s for in-flight requests on restart or SIGTERM
GUNICORN_PRELOAD    1: import the app once in the master (copy-on-write, fast fork). Safe: building the
                    app opens no database connection (the engine connects lazily) and post_fork drops
                    any pooled connection a worker inherits.
"""

import multiprocessing
import os
import shutil
import sys
import tempfile


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value.strip():
        return default
    try:
        return int(value)
    except ValueError:  # one line naming the variable, like the app's own settings (config.py)
        sys.exit(f"vending: invalid configuration: {name}={value!r}: expected a whole number")


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
workers = _int("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 9))
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread"
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 20)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = max_requests // 10
preload_app = os.environ.get("GUNICORN_PRELOAD", "1").lower() in {"1", "true", "yes", "on"}
proc_name = os.environ.get("GUNICORN_PROC_NAME", "vending")
# gunicornc's control socket defaults to one path per user, which two app servers on a host would share:
# off unless GUNICORN_CONTROL_SOCKET names a path for this instance.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket

# Request line, status, bytes, duration; the client address as nginx saw it (X-Forwarded-For) next to
# the peer address, so a log line can be traced through the proxy.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = (
    '%(h)s for="%({x-forwarded-for}i)s" %(t)s "%(r)s" %(s)s %(B)s %(M)sms ref="%(f)s" ua="%(a)s" %(p)s'
)
# One JSON object a line (app/logs.py, docs/operations.md): the app's and gunicorn's own lines on stderr, the
# access log on stdout with method, route, status, duration, user id and request id. The format string above
# is used only with GUNICORN_LOG_FORMAT=text (gunicorn's plain lines).
if os.environ.get("GUNICORN_LOG_FORMAT", "json") != "text":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": "app.logs.RequestContextFilter"}},
        "formatters": {"json": {"()": "app.logs.JsonLogFormatter"},
                       "access": {"()": "app.logs.AccessLogFormatter"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request"],
                        "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout"},
        },
        "root": {"level": loglevel.upper(), "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        },
    }
# Gunicorn itself trusts X-Forwarded-* only from nginx on the same host; the app uses ProxyFix.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_fork(server, worker):
    """A forked worker must not share the master's pooled database connections."""
    if not preload_app:
        return
    flask_app = server.app.wsgi()
    if "sqlalchemy" not in getattr(flask_app, "extensions", {}):
        return  # an app without a database (the benchmark's bare-Flask ceiling)
    from app.extensions import db

    with flask_app.app_context():
        db.engine.dispose(close=False)


# Prometheus metrics of every worker in one folder (app/metrics.py): PROMETHEUS_MULTIPROC_DIR, or a temporary
# folder of this server's own. The workers inherit the variable when they are forked, after this hook, and
# import prometheus_client only then, so they all write to it; the master never writes.
_made_metrics_dirs: list[str] = []


def on_starting(server):
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        folder = tempfile.mkdtemp(prefix="vending-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        _made_metrics_dirs.append(folder)
        return
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):  # values of an earlier run would be added to this one's
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))


def child_exit(server, worker):
    """A worker that exits takes its live gauges (connections in use) with it; its counters stay counted."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    for folder in _made_metrics_dirs:
        shutil.rmtree(folder, ignore_errors=True)


def when_ready(server):
    """Warn when this server's workers, with the others the operator runs (APP_SERVERS), could open more database
    connections than PostgreSQL takes (app/capacity.py)."""
    import config
    from app.capacity import check_connection_budget

    try:
        settings = config.from_environment()
        check_connection_budget({name: getattr(settings, name) for name in dir(settings) if name.isupper()},
                                workers=server.cfg.workers)
    except Exception as error:  # an estimate must never stop a server that works
        server.log.info("connection budget not checked: %s", error)
