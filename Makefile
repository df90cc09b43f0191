# The two commands: `make run` and `make test`. Everything else is a step of theirs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-stream-sqlite test-stream-postgres test-sqlite test-postgres \
	bench lint format lock clean

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

# Four passes: the whole suite on SQLite; every test that touches a database again with
# the service and target databases on PostgreSQL; the pipeline and API tests again with
# every store in S3 (ministack), then in Azure Blob (Azurite). They run as two streams
# at once (most of a pass is waiting on servers and subprocesses, not CPU); each pass has
# its own temporary directory, servers, ports, database and queues. Any failure fails.
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider
TEST_TMP ?= /tmp/loadbay-tests
STORE_TESTS := -m "db and not no_stores" tests/integration tests/api

test: install
	mkdir -p $(TEST_TMP)
	$(MAKE) --no-print-directory -j2 --output-sync=target test-stream-sqlite test-stream-postgres

test-stream-sqlite: test-sqlite
	LOADBAY_TEST_STORES=s3 $(PYTEST) --basetemp=$(TEST_TMP)/s3 $(STORE_TESTS)

test-stream-postgres: test-postgres
	LOADBAY_TEST_STORES=azure $(PYTEST) --basetemp=$(TEST_TMP)/azure $(STORE_TESTS)

test-sqlite: install
	$(PYTEST) --basetemp=$(TEST_TMP)/sqlite tests

test-postgres: install
	LOADBAY_TEST_DB=postgresql $(PYTEST) --basetemp=$(TEST_TMP)/postgresql -m db tests

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
