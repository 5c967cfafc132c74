# Everyday commands; the README's two commands are `make run` and `make test`.
.PHONY: setup lock run test check fmt test-unit test-integration kafka-up kafka-down alertmanager-down pg-up pg-down bench

setup:            ## venv, packages, Kafka jars
	bash scripts/setup.sh
lock:             ## re-resolve requirements.lock from pyproject.toml (then `make setup`)
	.venv/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 --upgrade -o requirements.lock
run:              ## the platform: broker, three services, demo tenant and data
	bash scripts/run.sh
test:             ## everything CI runs
	bash scripts/test.sh
check:            ## lint, format check, types
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy && .venv/bin/lint-imports
fmt:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .
test-unit:
	.venv/bin/pytest tests/unit -q
test-integration: ## needs the broker and PostgreSQL (started on demand)
	.venv/bin/pytest tests/integration -q
kafka-up:
	bash deploy/kafka/kafka.sh start
kafka-down:
	bash deploy/kafka/kafka.sh stop
alertmanager-down:
	bash deploy/alertmanager/alertmanager.sh stop
pg-up:
	bash deploy/postgres/postgres.sh start
pg-down:
	bash deploy/postgres/postgres.sh stop
bench:
	.venv/bin/python bench/ingest.py
