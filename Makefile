VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export FLASK_APP := run.py

.PHONY: run serve test test-fast lint venv venv-dev lock backup restore clean bench bench-scale

# pip installs and resolves from PyPI only. Some machines (this project's own included) add wheel folders and
# other indexes through the user's pip configuration and PIP_* variables: the venv's own pip.conf names PyPI,
# PIP_CONFIG_FILE naming that file makes pip skip the user's configuration, and those variables are dropped.
# The system-wide configuration still applies (it may name the certificates to trust).
PIP_ENV := env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL -u PIP_NO_INDEX -u PIP_CONSTRAINT \
	PIP_CONFIG_FILE=$(abspath $(VENV))/pip.conf
PIP := $(PIP_ENV) $(BIN)/pip
# Keep these options as they are: Renovate reads them back from the lock files' headers (renovate.json).
PIP_COMPILE := $(PIP_ENV) $(BIN)/pip-compile --quiet --allow-unsafe --generate-hashes --strip-extras

# DATABASE_URL in SQLAlchemy's form (postgresql+psycopg://user:password@host:5432/name) as libpq takes it, for
# make backup and make restore: shell assignments of PGURL (the driver and the password taken out), PGPASSWORD
# (so the password never shows in `ps`) and DBNAME. No virtualenv needed.
PG_ENV = $(PYTHON) -c 'import os, shlex, sys, urllib.parse as p; \
	u = p.urlsplit(os.environ.get("DATABASE_URL", "")); \
	u.scheme.split("+")[0] in ("postgresql", "postgres") or sys.exit("DATABASE_URL must name a PostgreSQL database, e.g. postgresql+psycopg://vending:secret@127.0.0.1:5432/vending"); \
	who, at, where = u.netloc.rpartition("@"); user, _, password = who.partition(":"); \
	print("PGURL=" + shlex.quote(u._replace(scheme="postgresql", netloc=user + at + where).geturl())); \
	print("DBNAME=" + shlex.quote(p.unquote(u.path.lstrip("/")))); \
	print("export PGPASSWORD=" + shlex.quote(p.unquote(password)) if password else "")'

## make venv: the runtime lock only (make run, make serve); make venv-dev: both locks (make test, lint, lock, bench)
venv: $(VENV)/.installed-runtime
venv-dev: $(VENV)/.installed-dev

$(VENV)/pip.conf:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	printf '[global]\nindex-url = https://pypi.org/simple\n' > $@

$(VENV)/.installed-runtime: requirements.txt | $(VENV)/pip.conf
	$(PIP) install -q --require-hashes -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/pip.conf
	$(PIP) install -q --require-hashes -r requirements.txt -r requirements-dev.txt
	touch $@ $(VENV)/.installed-runtime

## make lock: pin every package again, with hashes, after an edit of requirements.in or requirements-dev.in
## (pins that still fit are kept; make lock UPGRADE=1 moves every package to the newest version allowed)
lock: venv-dev
	$(PIP_COMPILE) $(if $(UPGRADE),--upgrade) --output-file=requirements.txt requirements.in
	$(PIP_COMPILE) $(if $(UPGRADE),--upgrade) --output-file=requirements-dev.txt requirements-dev.in

## make run: migrate, load the demo data once, serve on http://127.0.0.1:5000
run: venv
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo
	$(BIN)/flask run --host 127.0.0.1 --port 5000

## make serve: production shape locally: migrate, then gunicorn + ProductionConfig on 127.0.0.1:8000 (needs SECRET_KEY).
## Rate-limit counters in the local Redis when it answers (RATELIMIT_STORAGE_URI, if set, wins; memory:// keeps them
## per worker); the database is DATABASE_URL, or SQLite in instance/ spelled out here.
serve: venv
	@test -n "$$SECRET_KEY" || { echo 'make serve needs SECRET_KEY (32+ random characters): SECRET_KEY=$$(python3 -c "import secrets; print(secrets.token_urlsafe(32))") make serve' >&2; exit 2; }
	@if [ -z "$$RATELIMIT_STORAGE_URI" ]; then \
		if $(BIN)/python -c 'import redis; redis.Redis(socket_connect_timeout=0.5, socket_timeout=0.5).ping()' 2>/dev/null; then \
			RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0; echo "== rate-limit counters in the local Redis: $$RATELIMIT_STORAGE_URI"; \
		else \
			echo "make serve: no Redis answers on 127.0.0.1:6379 for the rate-limit counters; start one, or RATELIMIT_STORAGE_URI=memory:// make serve to count in each worker" >&2; exit 2; \
		fi; \
	fi; \
	export RATELIMIT_STORAGE_URI DATABASE_URL="$${DATABASE_URL:-sqlite:///$(CURDIR)/instance/vending.db}" APP_CONFIG=production; \
	mkdir -p instance && $(BIN)/flask db upgrade && \
	SESSION_COOKIE_SECURE=$${SESSION_COOKIE_SECURE:-0} exec $(BIN)/gunicorn -c gunicorn_cfg.py run:app

## make test: lint, then the whole suite on SQLite, and again on PostgreSQL when TEST_DATABASE_URL is set
## (read cache versions: a file on the SQLite run, Redis on the PostgreSQL run)
test: venv-dev lint
	env -u TEST_DATABASE_URL $(BIN)/pytest -q
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== again on PostgreSQL ($$TEST_DATABASE_URL), read cache versions in Redis"; \
		TEST_CACHE_VERSIONS=$${TEST_CACHE_VERSIONS:-redis://127.0.0.1:6379/15} $(BIN)/pytest -q; \
	else \
		echo "== TEST_DATABASE_URL not set: PostgreSQL run skipped"; \
	fi

## make test-fast: the maintainers' loop: services, API and web pages on SQLite, no lint, no browser, no servers
test-fast: venv-dev
	env -u TEST_DATABASE_URL $(BIN)/pytest -q tests/services tests/api tests/web tests/data

## make bench: load test under gunicorn on a throw-away PostgreSQL database, next to its ceilings (bench/README.md)
bench: venv-dev
	@command -v wrk >/dev/null || apt-get install -y wrk || sudo -n apt-get install -y wrk || { echo "make bench needs wrk" >&2; exit 2; }
	$(BIN)/python bench/bench.py

## make bench-scale: the order lists, web pages, catalogue search and flask audit at 10,000 and at 2,000,000 orders,
## on throw-away PostgreSQL databases seeded in SQL; writes bench/scale-results.md (bench/README.md)
bench-scale: venv-dev
	$(BIN)/python bench/scale.py

## make backup: pg_dump of DATABASE_URL (custom format) into backups/<database>-<UTC time>.dump, or into BACKUP_FILE
backup:
	@env=$$($(PG_ENV)) || exit 2; eval "$$env"; \
	file="$${BACKUP_FILE:-backups/$$DBNAME-$$(date -u +%Y%m%dT%H%M%SZ).dump}"; \
	umask 077 && mkdir -p "$$(dirname "$$file")" && \
	pg_dump --format=custom --file="$$file" --dbname="$$PGURL" && \
	echo "backed up $$DBNAME into $$file"

## make restore BACKUP_FILE=... DATABASE_URL=...: into an empty database (createdb it first), in one transaction;
## refuses a database that holds tables unless FORCE=1, which drops and replaces what the backup holds
restore:
	@test -n "$$BACKUP_FILE" && test -f "$$BACKUP_FILE" || { echo "make restore needs BACKUP_FILE=<a file made by make backup>" >&2; exit 2; }
	@env=$$($(PG_ENV)) || exit 2; eval "$$env"; \
	relations=$$(psql --no-psqlrc --quiet --tuples-only --no-align --set=ON_ERROR_STOP=1 --dbname="$$PGURL" \
		--command="select count(*) from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where n.nspname !~ '^pg_' and n.nspname <> 'information_schema'") || exit 1; \
	if [ "$$relations" != 0 ] && [ "$$FORCE" != 1 ]; then \
		echo "refusing to restore into $$DBNAME: it is not empty ($$relations tables, indexes, views or sequences); FORCE=1 replaces what the backup holds" >&2; exit 1; \
	fi; \
	pg_restore --no-owner --no-privileges --single-transaction --exit-on-error \
		$$(if [ "$$FORCE" = 1 ]; then echo --clean --if-exists; fi) --dbname="$$PGURL" "$$BACKUP_FILE" && \
	echo "restored $$BACKUP_FILE into $$DBNAME"

## make lint: ruff, bandit, and the layers (import-linter, contracts in pyproject.toml)
lint: venv-dev
	$(BIN)/ruff check .
	$(BIN)/bandit -q -c pyproject.toml -r app -x tests
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
