VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export FLASK_APP := run.py

.PHONY: run serve test lint venv clean bench

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

## make run: migrate, load the demo data once, serve on http://127.0.0.1:5000
run: venv
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo
	$(BIN)/flask run --host 127.0.0.1 --port 5000

## make serve: production shape locally: migrate, then gunicorn + ProductionConfig on 127.0.0.1:8000 (needs SECRET_KEY)
serve: venv
	@test -n "$$SECRET_KEY" || { echo 'make serve needs SECRET_KEY (32+ random characters): SECRET_KEY=$$(python3 -c "import secrets; print(secrets.token_urlsafe(32))") make serve' >&2; exit 2; }
	APP_CONFIG=production $(BIN)/flask db upgrade
	APP_CONFIG=production SESSION_COOKIE_SECURE=$${SESSION_COOKIE_SECURE:-0} $(BIN)/gunicorn -c gunicorn_cfg.py run:app

## make test: lint, then the whole suite on SQLite, and again on PostgreSQL when TEST_DATABASE_URL is set
## (read cache versions: a file on the SQLite run, Redis on the PostgreSQL run)
test: venv lint
	env -u TEST_DATABASE_URL $(BIN)/pytest -q
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== again on PostgreSQL ($$TEST_DATABASE_URL), read cache versions in Redis"; \
		TEST_CACHE_VERSIONS=$${TEST_CACHE_VERSIONS:-redis://127.0.0.1:6379/15} $(BIN)/pytest -q; \
	else \
		echo "== TEST_DATABASE_URL not set: PostgreSQL run skipped"; \
	fi

## make bench: load test under gunicorn on a throw-away PostgreSQL database, next to its ceilings (bench/README.md)
bench: venv
	@command -v wrk >/dev/null || apt-get install -y wrk || sudo -n apt-get install -y wrk || { echo "make bench needs wrk" >&2; exit 2; }
	$(BIN)/python bench/bench.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/bandit -q -c pyproject.toml -r app -x tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
