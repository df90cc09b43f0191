# The two commands: `make run` and `make test`. Everything else is a step of theirs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-sqlite test-postgres bench lint format lock clean

install: $(STAMP)

# The lock file pins every package with its hashes; uv installs it quickly.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
	$(BIN)/uv pip install --python $(BIN)/python --quiet --require-hashes -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	touch $(STAMP)

run: install
	$(BIN)/loadbay serve

# The whole suite on SQLite; then every test that touches a database again with the
# service and target databases on PostgreSQL; then the pipeline and API tests again with
# every store in S3 (ministack) instead of local disk.
test: install
	$(BIN)/python -m pytest -p no:cacheprovider tests
	LOADBAY_TEST_DB=postgresql $(BIN)/python -m pytest -p no:cacheprovider -m db tests
	LOADBAY_TEST_STORES=s3 $(BIN)/python -m pytest -p no:cacheprovider -m "db and not no_stores" tests/integration tests/api
	LOADBAY_TEST_STORES=azure $(BIN)/python -m pytest -p no:cacheprovider -m "db and not no_stores" tests/integration tests/api

bench: install
	$(BIN)/python -m bench.import_bench
	$(BIN)/python -m bench.scan_bench
	$(BIN)/python -m bench.storage_bench
	$(BIN)/python -m bench.scale_bench
	$(BIN)/python -m bench.jobs_list_bench
	$(BIN)/python -m bench.export_bench

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Re-pin after editing pyproject.toml's dependencies.
lock: install
	$(BIN)/uv pip compile pyproject.toml --group dev --generate-hashes --universal \
		--python-version 3.11 -q -o requirements.lock

clean:
	rm -rf $(VENV) .loadbay .pytest_cache
