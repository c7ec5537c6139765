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


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


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
