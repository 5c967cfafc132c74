#!/usr/bin/env bash
# Idempotent environment setup for development and CI: the project venv with the package
# installed editable (plus dev tools), and the Kafka jars the tests' broker runs from.
# Safe to run again and again: steps that are already done are skipped. Progress goes to
# stderr, one line per step.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PYTHON="${PYTHON:-python3}"   # any 3.11-3.13 interpreter (see requires-python)
VENV="$REPO/.venv"
STAMP="$VENV/.stamp"          # touched after a successful install of pyproject.toml's deps

step() { printf 'setup: %s\n' "$*" >&2; }

if [[ -x "$VENV/bin/python" ]]; then
  step "venv .venv exists"
else
  step "creating .venv with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi

# Reinstall only when pyproject.toml changed since the last successful install: keeps
# repeated runs fast and offline.
if [[ -f "$STAMP" && "$STAMP" -nt pyproject.toml ]]; then
  step "python packages up to date (.venv/.stamp is newer than pyproject.toml)"
else
  step "pip install --upgrade pip"
  "$VENV/bin/python" -m pip install -q --upgrade pip >&2
  step "pip install -e '.[dev]'"
  "$VENV/bin/python" -m pip install -q -e '.[dev]' >&2
  touch "$STAMP"
fi

step "Kafka jars (deploy/kafka/kafka.sh fetch)"
bash "$REPO/deploy/kafka/kafka.sh" fetch

step "Alertmanager and amtool (deploy/alertmanager/alertmanager.sh fetch)"
bash "$REPO/deploy/alertmanager/alertmanager.sh" fetch
