# syntax=docker/dockerfile:1
# Build stage: compile wheels (argon2-cffi, psycopg, Pillow fall back to source on some platforms).
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libpq-dev \
 && rm -rf /var/lib/apt/lists/*
# The runtime lock only (requirements.txt: every package pinned, with hashes; the dev tools are not in it).
# --require-hashes refuses any file whose hash the lock does not name; the image's own pip is used as is, since
# an unpinned `pip install --upgrade pip` would be the one download nothing checks.
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes -r /tmp/requirements.txt

# Final stage: the virtualenv and the code, no compilers, running as an unprivileged user.
FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_CONFIG=production \
    FLASK_APP=run.py \
    PROXY_FIX_HOPS=1 \
    GUNICORN_BIND=0.0.0.0:8000
RUN groupadd --system vending \
 && useradd --system --gid vending --home-dir /app --no-create-home --shell /usr/sbin/nologin vending
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root config.py run.py gunicorn_cfg.py ./
COPY --chown=root:root app ./app
COPY --chown=root:root migrations ./migrations
USER vending
EXPOSE 8000
# /readyz: 200 while this server can write to the database (Redis down is reported in the body, never a 503).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"]
CMD ["gunicorn", "-c", "gunicorn_cfg.py", "run:app"]
