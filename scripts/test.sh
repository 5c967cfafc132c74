#!/usr/bin/env bash
# The second command: set everything up and run the whole suite — lint, types, and every
# test on the real Kafka broker, SQLite and PostgreSQL. Exits non-zero if anything fails.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/setup.sh
bash deploy/console/browser.sh >/dev/null  # Debian's chromium for tests/e2e/console

# Start the broker and PostgreSQL unless they already run; stop on exit what we started. A
# broker this run started is the tests' alone: it is reset on exit (its topics and ACLs gone
# with its data), so the tests need not delete theirs one by one at the end.
started=()
cleanup() {
  for service in "${started[@]}"; do
    if [[ "$service" == kafka ]]; then
      bash deploy/kafka/kafka.sh reset >/dev/null 2>&1 || true
    else
      bash "deploy/$service/$service.sh" stop >/dev/null 2>&1 || true
    fi
  done
}
trap cleanup EXIT
if ! bash deploy/kafka/kafka.sh status >/dev/null 2>&1; then
  started+=(kafka)
  export LODESTAR_TEST_BROKER_DISPOSABLE=1
fi
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
