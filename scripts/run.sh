#!/usr/bin/env bash
# The first command: set everything up and run Lodestar locally — the Kafka broker, the
# three services as separate processes on SQLite (var/*.db), a demo tenant with its admin
# key, demo data, and a live producer. Ctrl-C stops the services (the broker keeps running;
# `make kafka-down` stops it).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/setup.sh
BOOTSTRAP="$(bash deploy/kafka/kafka.sh start)"
# A Prometheus Alertmanager beside the platform; the alerts service posts every alert to it.
ALERTMANAGER="$(bash deploy/alertmanager/alertmanager.sh start deploy/alertmanager/alertmanager.yml)"
export LODESTAR_ALERTMANAGER_URLS="[\"$ALERTMANAGER\"]"
echo "run: Alertmanager at $ALERTMANAGER (its UI; \`make alertmanager-down\` stops it)" >&2
mkdir -p var/log

# One admin key for the demo tenant, kept across runs so a dashboard keeps working.
if [[ ! -f var/demo.env ]]; then
  echo "LODESTAR_BOOTSTRAP_ADMIN_KEY=$(.venv/bin/lodestar new-key)" > var/demo.env
fi
# And the secret key that seals webhook secrets and signs cursors (a run from before it gains
# one; the services refuse to start without it).
if ! grep -q '^LODESTAR_SECRET_KEY=' var/demo.env; then
  echo "LODESTAR_SECRET_KEY=$(.venv/bin/lodestar new-secret-key)" >> var/demo.env
fi
# shellcheck disable=SC1091
source var/demo.env
export LODESTAR_BOOTSTRAP_ADMIN_KEY LODESTAR_SECRET_KEY LODESTAR_KAFKA_BOOTSTRAP="$BOOTSTRAP"
# The demo's Alertmanager and receivers run on this machine.
export LODESTAR_WEBHOOK_ALLOW_PRIVATE="${LODESTAR_WEBHOOK_ALLOW_PRIVATE:-true}"
export LODESTAR_BOOTSTRAP_TENANT="${LODESTAR_BOOTSTRAP_TENANT:-demo}"

declare -A PORTS=([goals]="${GOALS_PORT:-8001}" [metrics]="${METRICS_PORT:-8002}" [alerts]="${ALERTS_PORT:-8003}")
for service in goals metrics alerts; do
  export "LODESTAR_${service^^}_URL=http://127.0.0.1:${PORTS[$service]}"
done
pids=()
stop_services() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_services EXIT INT TERM

# Each service connects to the broker as its own principal (kafka.sh generated the passwords
# into the cache); the ACLs let it write only its own topics (README "Security").
for service in goals metrics alerts; do
  port="${PORTS[$service]}"
  eval "$(bash deploy/kafka/kafka.sh env "$service")"
  LODESTAR_DATABASE_URL="sqlite+aiosqlite:///var/$service.db" \
  LODESTAR_PUBLIC_URL="http://127.0.0.1:$port" \
    .venv/bin/uvicorn "services.$service.app:create_app" --factory \
      --host 127.0.0.1 --port "$port" --no-access-log >"var/log/$service.log" 2>&1 &
  pids+=($!)
  echo "run: $service starting on http://127.0.0.1:$port (log var/log/$service.log)" >&2
done

# The demo's live data comes as an external producer does: the `producer` principal, which may
# write kpi.measurements only, each record signed with the demo tenant's key.
eval "$(bash deploy/kafka/kafka.sh env producer)"
.venv/bin/python scripts/demo.py \
  --goals "http://127.0.0.1:${PORTS[goals]}" \
  --metrics "http://127.0.0.1:${PORTS[metrics]}" \
  --alerts "http://127.0.0.1:${PORTS[alerts]}" \
  --kafka "$BOOTSTRAP" --alertmanager "$ALERTMANAGER" --tenant "$LODESTAR_BOOTSTRAP_TENANT" --key "$LODESTAR_BOOTSTRAP_ADMIN_KEY" \
  "$@"
