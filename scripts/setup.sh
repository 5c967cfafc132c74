#!/usr/bin/env bash
# Idempotent environment setup for development and CI: the project venv with exactly the
# packages of requirements.lock and the project installed editable, and the Kafka jars the
# tests' broker runs from.
# Safe to run again and again: steps that are already done are skipped. Progress goes to
# stderr, one line per step.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PYTHON="${PYTHON:-python3}"   # any 3.11-3.13 interpreter (see requires-python)
VENV="$REPO/.venv"
STAMP="$VENV/.stamp"          # touched after a successful install of requirements.lock

step() { printf 'setup: %s\n' "$*" >&2; }

if [[ -x "$VENV/bin/python" ]]; then
  step "venv .venv exists"
else
  step "creating .venv with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi

# The packages are exactly requirements.lock (every version pinned, every file's hash checked:
# `make lock` refreshes it from pyproject.toml), then the project itself without dependencies.
# Reinstall only when the lock or pyproject.toml changed since the last successful install:
# keeps repeated runs fast and offline.
if [[ -f "$STAMP" && "$STAMP" -nt requirements.lock && "$STAMP" -nt pyproject.toml ]]; then
  step "python packages up to date (.venv/.stamp is newer than requirements.lock)"
else
  step "pip install --upgrade pip"
  "$VENV/bin/python" -m pip install -q --upgrade pip >&2
  step "pip install --require-hashes -r requirements.lock"
  "$VENV/bin/python" -m pip install -q --require-hashes --only-binary :all: -r requirements.lock >&2
  step "pip install --no-deps -e ."
  "$VENV/bin/python" -m pip install -q --no-deps -e . >&2
  touch "$STAMP"
fi

step "Kafka jars (deploy/kafka/kafka.sh fetch)"
bash "$REPO/deploy/kafka/kafka.sh" fetch

step "Alertmanager and amtool (deploy/alertmanager/alertmanager.sh fetch)"
bash "$REPO/deploy/alertmanager/alertmanager.sh" fetch
