#!/usr/bin/env bash
# A private PostgreSQL cluster for tests and development (not Debian's default cluster):
# Debian's server binaries, our own data dir, loopback TCP on a free port, trust auth.
#
#   deploy/postgres/postgres.sh start    install if needed, start (or reuse); prints the URL
#   deploy/postgres/postgres.sh stop     stop it (nothing running: nothing to do)
#   deploy/postgres/postgres.sh status   exit 0 and print the URL if it runs, else 1
#   deploy/postgres/postgres.sh url      print the URL (exit 1 if nothing runs)
#
# The URL is postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres (SQLAlchemy form; psql
# wants postgresql://...). Only the URL goes to stdout; progress goes to stderr. The data is
# disposable: delete the cluster dir to start from scratch.
#
# Where the cluster lives: ${LODESTAR_CACHE:-<repo>/.cache}/postgres, owned by the `postgres`
# OS user, because the server refuses to run as root. If that user cannot reach the cache
# (a parent dir without o+x, e.g. a repo under a 0700 home), or the path is too long for a
# unix socket (sun_path holds 107 bytes), it lives in /tmp/lodestar-pg-<hash of the cache
# path> instead. The choice is recomputed identically by every subcommand.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${LODESTAR_CACHE:-$REPO/.cache}"
START_TIMEOUT=30   # seconds until pg_isready must answer
STOP_TIMEOUT=30    # seconds for a fast shutdown, then immediate

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# Newest installed server version, e.g. /usr/lib/postgresql/15/bin ("" if none).
find_pgbin() {
  local d best=""
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/initdb" ]] || continue
    if [[ -z "$best" ]] || [[ "$(printf '%s\n%s\n' "$best" "$d" | sort -V | tail -n1)" == "$d" ]]; then
      best="$d"
    fi
  done
  printf '%s' "$best"
}

# Run as the postgres user, from / (it may not be allowed into the caller's cwd).
as_pg() { (cd / && runuser -u postgres -- "$@"); }

pick_root() {
  local want="$CACHE/postgres"
  # 91 = 107 (sun_path) - 1 (NUL) - 15 ("/.s.PGSQL.NNNNN").
  if id postgres >/dev/null 2>&1 && [[ -d "$want" ]] && ((${#want} + 4 <= 91)) &&
    as_pg test -x "$want"; then
    printf '%s' "$want"
  else
    printf '/tmp/lodestar-pg-%s' "$(printf '%s' "$CACHE" | sha256sum | cut -c1-16)"
  fi
}

set_paths() {
  ROOT="$(pick_root)"
  DATA="$ROOT/data"
  SOCKDIR="$ROOT/run"
  LOGFILE="$ROOT/postgres.log"
  PORTFILE="$ROOT/port"   # port of the last start, reused while free
}

# A postmaster that died unreaped (PID 1 of some containers never reaps) stays a zombie,
# which pg_ctl and the next postmaster take for alive (kill -0 succeeds): remove the lock
# files (postmaster.pid, the socket's .lock) that name a zombie.
clear_zombie_locks() {
  local f pid state
  for f in "$DATA/postmaster.pid" "$SOCKDIR"/.s.PGSQL.*.lock; do
    [[ -f "$f" ]] || continue
    pid="$(sed -n 1p "$f")"
    [[ "$pid" =~ ^-?[0-9]+$ ]] || continue
    state="$(awk '{print $3}' "/proc/${pid#-}/stat" 2>/dev/null)" || state=""
    if [[ "$state" == Z ]]; then
      log "removing $f of dead postmaster $pid"
      rm -f "$f"
    fi
  done
}

# Port of the running postmaster (line 4 of postmaster.pid), if pg_ctl says it runs.
running_port() {
  local pgbin="$1"
  clear_zombie_locks
  [[ -n "$pgbin" && -f "$DATA/postmaster.pid" ]] || return 1
  as_pg "$pgbin/pg_ctl" status -D "$DATA" >/dev/null 2>&1 || return 1
  sed -n 4p "$DATA/postmaster.pid"
}

ready() { as_pg "$1/pg_isready" -q -h 127.0.0.1 -p "$2" -U postgres -d postgres -t 2; }

url_for() { printf 'postgresql+asyncpg://postgres@127.0.0.1:%s/postgres\n' "$1"; }

# Prints the URL if the cluster runs AND answers.
running_url() {
  local pgbin port
  pgbin="$(find_pgbin)"
  port="$(running_port "$pgbin")" || return 1
  ready "$pgbin" "$port" || return 1
  url_for "$port"
}

free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

port_free() {
  python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

# Parallel callers (several test sessions) must not install, initdb or start at once. fd 9
# is closed for the server (9>&- below) so the postmaster never inherits the lock.
take_lock() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.postgres.lock"
  flock -w 600 9 || die "timed out waiting for the lock $CACHE/.postgres.lock"
}

ensure_installed() {
  [[ -n "$(find_pgbin)" ]] && return 0
  ((EUID == 0)) || die "PostgreSQL is not installed and we are not root to apt-get it"
  log "installing PostgreSQL with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  [[ -n "$(find_pgbin)" ]] || die "apt-get installed no /usr/lib/postgresql/*/bin/initdb"
}

stop_cluster() {
  local pgbin="$1"
  if ! as_pg "$pgbin/pg_ctl" stop -D "$DATA" -m fast -w -t "$STOP_TIMEOUT" >&2; then
    log "fast shutdown did not finish in ${STOP_TIMEOUT}s: immediate shutdown"
    as_pg "$pgbin/pg_ctl" stop -D "$DATA" -m immediate -w -t 10 >&2 || true
  fi
}

# lodestar.conf: loopback TCP only, the socket inside the cluster dir (not Debian's
# /var/run/postgresql), room for parallel test sessions' pools, and what a DBA would set for
# a write-heavy service (the metrics ingest COPYs tens of thousands of points a second), with
# durability kept: fsync, synchronous_commit and full_page_writes stay on.
write_conf() {
  local pgbin="$1" port="$2" compression=pglz
  # lz4 costs less CPU than pglz, where the server is built with it (Debian's is).
  if "$pgbin/pg_config" --configure 2>/dev/null | grep -q -- '--with-lz4'; then
    compression=lz4
  fi
  cat >"$DATA/lodestar.conf" <<EOF
# Written by deploy/postgres/postgres.sh on every start; edits are lost.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '${SOCKDIR//\'/\'\'}'
max_connections = 200
# Durability: a commit is on disk when it returns (consumers commit Kafka offsets after it).
fsync = on
synchronous_commit = on
full_page_writes = on
# Room for the hot indexes (the measurements key, rollups, outbox) and the recent heap pages:
# the 128MB default holds the 16-byte key index of only a few million points.
shared_buffers = 512MB
# What -1 picks for 512MB, said outright: one ingest batch writes megabytes of WAL.
wal_buffers = 16MB
# Checkpoints by time rather than after every 1 GB of WAL (soon reached at full-speed
# ingest), and less often: after each checkpoint the first change to a page logs all of it.
max_wal_size = 4GB
checkpoint_timeout = 15min
# Those full-page images compressed (in a probe: less WAL per batch after a checkpoint, and
# no slower).
wal_compression = $compression
EOF
  chown postgres:postgres "$DATA/lodestar.conf"
}

# A running cluster started with other settings (an older version of this script) gets the
# current ones: those a reload applies at once (checkpoints, WAL compression), the others
# (shared_buffers, wal_buffers) at its next start. Nothing is restarted under its clients.
apply_settings() {
  local pgbin="$1" port="$2" before pending
  before="$(cat "$DATA/lodestar.conf" 2>/dev/null || true)"
  write_conf "$pgbin" "$port"
  [[ "$(cat "$DATA/lodestar.conf")" != "$before" ]] || return 0
  as_pg "$pgbin/pg_ctl" reload -D "$DATA" >/dev/null
  sleep 0.5  # the reload is asynchronous
  pending="$(as_pg "$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atc \
    "SELECT string_agg(name, ', ') FROM pg_settings WHERE pending_restart" 2>/dev/null || true)"
  log "settings reloaded${pending:+; at the next start: $pending}"
}

cmd_start() {
  take_lock
  ensure_installed
  id postgres >/dev/null 2>&1 || die "no 'postgres' OS user (it comes with the postgresql package)"
  local pgbin port url
  pgbin="$(find_pgbin)"

  # The cache dir must exist before pick_root can check that postgres reaches it.
  mkdir -p "$CACHE/postgres"
  chown postgres:postgres "$CACHE/postgres"
  set_paths
  if [[ "$ROOT" != "$CACHE/postgres" ]]; then
    log "$CACHE/postgres is out of the postgres user's reach or too long for a socket: using $ROOT"
    mkdir -p "$ROOT"
    # A predictable name in /tmp: refuse one that someone else made.
    [[ "$(stat -c %U "$ROOT")" =~ ^(root|postgres)$ ]] || die "$ROOT belongs to another user"
    chown postgres:postgres "$ROOT"
    chmod 700 "$ROOT"
  fi

  if url="$(running_url)"; then
    log "reusing the running cluster in $DATA"
    apply_settings "$pgbin" "$(running_port "$pgbin")"
    printf '%s\n' "$url"
    return 0
  fi
  # Running but not answering: a stuck server; restart it.
  if port="$(running_port "$pgbin")"; then
    log "the cluster in $DATA does not answer on port $port: restarting it"
    stop_cluster "$pgbin"
  fi

  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "initdb $DATA"
    # Into a temporary dir, then renamed: an interrupted initdb never looks like a cluster.
    rm -rf "$DATA" "$DATA.tmp"
    as_pg "$pgbin/initdb" -D "$DATA.tmp" --auth=trust -U postgres --encoding=UTF8 \
      --locale=C.UTF-8 >"$ROOT/initdb.log" 2>&1 || {
      cat "$ROOT/initdb.log" >&2
      die "initdb failed"
    }
    # Our settings live in lodestar.conf, rewritten on every start (the port may change).
    printf "\ninclude_if_exists = 'lodestar.conf'\n" >>"$DATA.tmp/postgresql.conf"
    mv "$DATA.tmp" "$DATA"
  fi

  # Keep the previous port while it is free (clients keep their URL); else a fresh one.
  port=""
  [[ -f "$PORTFILE" ]] && port="$(<"$PORTFILE")"
  if [[ ! "$port" =~ ^[0-9]+$ ]] || ! port_free "$port"; then
    port="$(free_port)"
  fi
  printf '%s\n' "$port" >"$PORTFILE"

  as_pg mkdir -p "$SOCKDIR"
  write_conf "$pgbin" "$port"

  log "starting PostgreSQL on 127.0.0.1:$port (data $DATA, log $LOGFILE)"
  # -W: do not wait here; readiness is checked below with pg_isready. pg_ctl detaches the
  # postmaster into its own session, so it outlives this script.
  as_pg "$pgbin/pg_ctl" start -D "$DATA" -l "$LOGFILE" -W >&2 9>&- ||
    die "pg_ctl start failed (see $LOGFILE)"

  local deadline=$((SECONDS + START_TIMEOUT)) gone=0
  until ready "$pgbin" "$port"; do
    # postmaster.pid disappears when the postmaster gives up: fail now, not at the deadline.
    [[ -f "$DATA/postmaster.pid" ]] || gone=$((gone + 1))
    if ((gone >= 10 || SECONDS >= deadline)); then
      log "last 50 lines of $LOGFILE:"
      tail -n 50 "$LOGFILE" >&2 || true
      as_pg "$pgbin/pg_ctl" stop -D "$DATA" -m immediate -w -t 10 >&2 || true
      ((gone < 10)) || die "PostgreSQL exited during startup"
      die "PostgreSQL did not answer within ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done
  log "PostgreSQL ready"
  url_for "$port"
}

cmd_stop() {
  take_lock
  local pgbin
  pgbin="$(find_pgbin)"
  set_paths
  if ! running_port "$pgbin" >/dev/null; then
    log "no cluster running"
    return 0
  fi
  log "stopping the cluster in $DATA"
  stop_cluster "$pgbin"
}

cmd_status() {
  set_paths
  running_url
}

cmd_url() {
  set_paths
  running_url || die "no cluster running"
}

case "${1:-}" in
  start | stop | status | url) "cmd_$1" ;;
  *)
    echo "usage: $0 start|stop|status|url" >&2
    exit 2
    ;;
esac
