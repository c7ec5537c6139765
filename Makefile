VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export FLASK_APP := run.py

.PHONY: run test lint venv clean

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

## make test: lint, then the whole suite on SQLite, and again on PostgreSQL when TEST_DATABASE_URL is set
test: venv lint
	env -u TEST_DATABASE_URL $(BIN)/pytest -q
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== again on PostgreSQL ($$TEST_DATABASE_URL)"; \
		$(BIN)/pytest -q; \
	else \
		echo "== TEST_DATABASE_URL not set: PostgreSQL run skipped"; \
	fi

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
