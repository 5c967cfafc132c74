#!/usr/bin/env bash
# The second command: set everything up and run the whole suite — lint, types, and every
# test on the real Kafka broker, SQLite and PostgreSQL. Exits non-zero if anything fails.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/setup.sh
bash deploy/console/browser.sh >/dev/null  # Debian's chromium for tests/e2e/console

# Start the broker and PostgreSQL unless they already run; stop on exit what we started.
started=()
cleanup() {
  for service in "${started[@]}"; do
    bash "deploy/$service/$service.sh" stop >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
bash deploy/kafka/kafka.sh status >/dev/null 2>&1 || started+=(kafka)
bash deploy/postgres/postgres.sh status >/dev/null 2>&1 || started+=(postgres)
echo "test: kafka at $(bash deploy/kafka/kafka.sh start)" >&2
echo "test: postgres at $(bash deploy/postgres/postgres.sh start)" >&2

echo "test: ruff, mypy, import-linter" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports

echo "test: pytest" >&2
.venv/bin/pytest "$@"
