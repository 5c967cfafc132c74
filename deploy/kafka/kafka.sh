#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft, broker + controller in one JVM) for tests and
# development, run from Maven Central jars: no Docker, no tarball. Recipe:
# shared/notes/kafka-from-maven.md.
#
#   deploy/kafka/kafka.sh fetch       download the jars once (keyed by a hash of pom.xml)
#   deploy/kafka/kafka.sh start       start (or reuse) the broker; prints its bootstrap address
#   deploy/kafka/kafka.sh stop        stop it (no broker: nothing to do)
#   deploy/kafka/kafka.sh reset       stop it and delete its data (a test-only broker)
#   deploy/kafka/kafka.sh status      exit 0 and print the bootstrap address if it runs, else 1
#   deploy/kafka/kafka.sh bootstrap   print the bootstrap address (exit 1 if none runs)
#   deploy/kafka/kafka.sh env USER    print `export LODESTAR_KAFKA_*=...` lines for USER (admin,
#                                     goals, metrics, alerts, producer or one added below)
#   deploy/kafka/kafka.sh add-user USER   create USER, or give it a new password (rotation);
#                                     a USER that is not a service may write kpi.measurements only
#   deploy/kafka/kafka.sh remove-user USER   delete USER (it can no longer authenticate)
#
# Only the bootstrap address goes to stdout; progress goes to stderr. Everything lives in
# ${LODESTAR_CACHE:-<repo>/.cache}/kafka (git-ignored); its data is disposable. The SCRAM users
# are created when the log dir is formatted, with passwords generated then into
# run/credentials.json (mode 600, never in the repository); the ACLs are granted after each
# start (`lodestar kafka-grant`, idempotent).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${LODESTAR_CACHE:-$REPO/.cache}"
KDIR="$CACHE/kafka"
LIB="$KDIR/lib"
MARKER="$LIB/.complete"           # holds the pom.xml hash of a complete download
RUN="$KDIR/run"
DATA="$RUN/data"                  # KRaft log dir
LOGS="$RUN/logs"
CONF="$RUN/server.properties"
PIDFILE="$RUN/kafka.pid"
BOOTFILE="$RUN/bootstrap"
PORTSFILE="$RUN/ports"            # "PORT CONTROLLER_PORT" of the last start, reused if free
LOCKFILE="$KDIR/.lock"
CREDS="$RUN/credentials.json"     # {"user": "password"} of the SCRAM users of this log dir
USERS=(admin goals metrics alerts producer)
PY="$REPO/.venv/bin/python"
START_TIMEOUT="${LODESTAR_KAFKA_START_TIMEOUT:-60}"   # seconds
STOP_TIMEOUT=30                    # seconds, then SIGKILL

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# Parallel callers (e.g. several test sessions) must not fetch, format or launch at the same
# time: fetch/start/stop run under an exclusive flock. fd 9 is closed for the broker below,
# or the JVM would inherit the lock and hold it for its whole life.
take_lock() {
  mkdir -p "$KDIR"
  exec 9>"$LOCKFILE"
  flock -w 300 9 || die "timed out waiting for the lock $LOCKFILE"
}

pom_hash() { sha256sum "$HERE/pom.xml" | cut -d' ' -f1; }

fetched() { [[ -f "$MARKER" && "$(cat "$MARKER")" == "$(pom_hash)" ]]; }

do_fetch() {
  fetched && return 0
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  log "fetching Kafka jars from Maven Central into $LIB"
  # Download into a fresh directory, then rename it: an interrupted fetch never looks
  # complete, and jars of an older pom.xml never linger on the classpath. mvn runs on a copy
  # of the pom inside the cache so that nothing (target/) is written into the repository.
  local tmp="$LIB.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp/pom"
  cp "$HERE/pom.xml" "$tmp/pom/pom.xml"
  # Maven logs (errors too) to stdout: keep it in a file, show it only on failure.
  if ! mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DoutputDirectory="$tmp/jars" -DincludeScope=runtime -f "$tmp/pom/pom.xml" \
      >"$tmp/mvn.log" 2>&1; then
    cat "$tmp/mvn.log" >&2
    rm -rf "$tmp"
    die "mvn copy-dependencies failed"
  fi
  pom_hash >"$tmp/jars/.complete"
  rm -rf "$LIB"
  mv "$tmp/jars" "$LIB"
  rm -rf "$tmp"
}

# True if the process exists and is not a zombie (an unreaped dead broker must count as gone).
alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# Prints the pid from the pid file if that process is alive and is this cache's broker
# (a recycled pid of some other process must not count).
broker_pid() {
  local pid cmd
  [[ -f "$PIDFILE" ]] || return 1
  pid="$(<"$PIDFILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" || return 1
  [[ "$cmd" == *"kafka.Kafka $CONF"* ]] || return 1
  printf '%s\n' "$pid"
}

# $1 is expanded by the inner bash (bounded by timeout), not here.
# shellcheck disable=SC2016
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }

# Prints the bootstrap address if this cache's broker runs AND accepts TCP connections.
running_bootstrap() {
  local boot
  broker_pid >/dev/null || return 1
  [[ -f "$BOOTFILE" ]] || return 1
  boot="$(<"$BOOTFILE")"
  port_open "${boot##*:}" || return 1
  printf '%s\n' "$boot"
}

# Two distinct free loopback ports (both sockets are bound at once, so they differ).
free_ports() {
  python3 -c 'import socket
ss = [socket.socket() for _ in range(2)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))'
}

# True if every given port can be bound on 127.0.0.1 right now (SO_REUSEADDR, as the JVM does).
ports_free() {
  python3 -c 'import socket, sys
for p in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(p)))' "$@" 2>/dev/null
}

sed_escape() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }

show_logs() {
  local f
  for f in "$LOGS/server.log" "$LOGS/console.out"; do
    [[ -s "$f" ]] || continue
    log "last 50 lines of $f:"
    tail -n 50 "$f" >&2
  done
}

# SIGTERM (a clean shutdown takes a few seconds), SIGKILL after STOP_TIMEOUT.
terminate() {
  local pid="$1" deadline=$((SECONDS + STOP_TIMEOUT))
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid"; do
    if ((SECONDS >= deadline)); then
      log "broker $pid still running after ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.2
  done
}

cmd_fetch() {
  take_lock
  do_fetch
}

cmd_start() {
  take_lock
  local boot pid port cport
  if [[ -s "$CREDS" ]] && boot="$(running_bootstrap)"; then
    log "reusing the running broker (pid $(<"$PIDFILE"))"
    grant "$boot" || die "granting the ACLs failed"
    printf '%s\n' "$boot"
    return 0
  fi
  # Alive but not answering (a hung broker), or started before authentication: replace it.
  if pid="$(broker_pid)"; then
    log "broker $pid does not accept connections or is unauthenticated: stopping it"
    terminate "$pid"
  fi
  rm -f "$PIDFILE" "$BOOTFILE"
  command -v java >/dev/null || die "java not found (Kafka 4.x needs Java 17+)"
  do_fetch

  mkdir -p "$RUN" "$LOGS"
  # Keep the previous ports when they are still free (clients keep their address);
  # otherwise take two fresh ones.
  port="" cport=""
  if [[ -f "$PORTSFILE" ]]; then
    read -r port cport <"$PORTSFILE" || true
  fi
  if [[ -z "$port" || -z "$cport" ]] || ! ports_free "$port" "$cport"; then
    read -r port cport < <(free_ports) || true
  fi
  [[ "$port" =~ ^[0-9]+$ && "$cport" =~ ^[0-9]+$ ]] || die "could not pick free ports"
  printf '%s %s\n' "$port" "$cport" >"$PORTSFILE"

  # A log dir formatted before authentication (no credentials beside it) has no SCRAM users:
  # it is disposable, so it is formatted afresh.
  if [[ -f "$DATA/meta.properties" && ! -s "$CREDS" ]]; then
    log "the log dir $DATA has no SCRAM users (formatted before authentication): formatting it afresh"
    rm -rf "$DATA"
  fi
  [[ -f "$DATA/meta.properties" ]] || new_credentials
  render_conf "$port" "$cport"

  # Format once; afterwards the data dir is reused even if the ports changed: with static
  # voters neither meta.properties nor the quorum state records the controller's endpoint
  # (verified: topics survive a restart on new ports). Delete $RUN to start from scratch.
  if [[ -f "$DATA/meta.properties" ]]; then
    log "reusing the KRaft log dir $DATA"
  else
    log "formatting the KRaft log dir $DATA"
    rm -rf "$DATA"
    local tools=(-Dlog4j2.configurationFile="$HERE/tools-log4j2.properties" -cp "$LIB/*")
    local cid user scram=()
    cid="$(java "${tools[@]}" kafka.tools.StorageTool random-uuid)" ||
      die "StorageTool random-uuid failed"
    for user in "${USERS[@]}"; do
      scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$(password_of "$user")]")
    done
    java "${tools[@]}" kafka.tools.StorageTool format -t "$cid" -c "$CONF" "${scram[@]}" >&2 ||
      die "StorageTool format failed"
  fi

  # A fresh server.log per start, so the readiness check cannot match an earlier run's line.
  if [[ -f "$LOGS/server.log" ]]; then
    mv -f "$LOGS/server.log" "$LOGS/server.log.prev"
  fi
  log "starting the broker on 127.0.0.1:$port (controller $cport), logs in $LOGS"
  # setsid + nohup: the broker outlives this script and is not hit by a Ctrl-C/SIGHUP sent to
  # the caller's process group (it is shared by test sessions). 9>&- drops the lock fd.
  (cd "$RUN" && exec setsid nohup java -Xms256m -Xmx512m -XX:+UseG1GC \
    -Dkafka.logs.dir="$LOGS" -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
    -cp "$LIB/*" kafka.Kafka "$CONF") </dev/null >>"$LOGS/console.out" 2>&1 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$PIDFILE"
  printf '127.0.0.1:%s\n' "$port" >"$BOOTFILE"

  # Ready = the broker logged its start AND its listener accepts connections.
  local deadline=$((SECONDS + START_TIMEOUT))
  until grep -qs 'Kafka Server started' "$LOGS/server.log" && port_open "$port"; do
    if ! alive "$pid"; then
      show_logs
      rm -f "$PIDFILE" "$BOOTFILE"
      die "the broker exited during startup"
    fi
    if ((SECONDS >= deadline)); then
      show_logs
      terminate "$pid"
      rm -f "$PIDFILE" "$BOOTFILE"
      die "the broker was not ready after ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done
  log "broker ready (pid $pid)"
  grant "127.0.0.1:$port" || die "granting the ACLs failed"
  printf '127.0.0.1:%s\n' "$port"
}

# Fresh random passwords for every user of a log dir about to be formatted.
new_credentials() {
  mkdir -p "$RUN"
  (umask 077 && python3 -c 'import json, secrets, sys
print(json.dumps({u: secrets.token_urlsafe(24) for u in sys.argv[1:]}))' "${USERS[@]}" >"$CREDS")
}

password_of() {
  python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$CREDS" "$1" 2>/dev/null
}

render_conf() {
  local admin
  admin="$(password_of admin)" || die "no admin password in $CREDS"
  (umask 077 && sed -e "s|@PORT@|$1|g" -e "s|@CONTROLLER_PORT@|$2|g" \
    -e "s|@LOG_DIR@|$(sed_escape "$DATA")|g" -e "s|@ADMIN_PASSWORD@|$(sed_escape "$admin")|g" \
    "$HERE/server.properties.template" >"$CONF")
}

# The deployment's ACLs (unprefixed topic names, the services' default consumer groups);
# granting an ACL that exists is a no-op.
grant() {
  [[ -x "$PY" ]] || die "no $PY (run scripts/setup.sh first)"
  "$PY" -m shared.cli kafka-grant --bootstrap "$1" --credentials "$CREDS" >&2
}

cmd_env() {
  local user="${1:-}" boot password
  [[ -n "$user" ]] || die "usage: $0 env USER"
  boot="$(running_bootstrap)" || die "no broker running"
  password="$(password_of "$user")" || die "no user $user in $CREDS"
  printf 'export LODESTAR_KAFKA_BOOTSTRAP=%q\n' "$boot"
  printf 'export LODESTAR_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT\n'
  printf 'export LODESTAR_KAFKA_SASL_MECHANISM=SCRAM-SHA-512\n'
  printf 'export LODESTAR_KAFKA_USERNAME=%q\n' "$user"
  printf 'export LODESTAR_KAFKA_PASSWORD=%q\n' "$password"
}

# ConfigCommand as the admin (a JVM start, 1-2 s): its client properties go in a 0600 file.
config_command() {
  local boot="$1" admin_conf="$RUN/admin.properties"
  shift
  (umask 077 && cat >"$admin_conf" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(password_of admin)";
PROPS
  )
  java -Dlog4j2.configurationFile="$HERE/tools-log4j2.properties" -cp "$LIB/*" \
    kafka.admin.ConfigCommand --bootstrap-server "$boot" --command-config "$admin_conf" \
    --alter "$@" >&2
}

# Set the user's password in credentials.json ("" removes the user).
store_password() {
  (umask 077 && python3 -c 'import json, sys
creds = json.load(open(sys.argv[1]))
if sys.argv[3]:
    creds[sys.argv[2]] = sys.argv[3]
else:
    creds.pop(sys.argv[2], None)
open(sys.argv[1], "w").write(json.dumps(creds))' "$CREDS" "$1" "$2")
}

valid_user() {
  [[ "$1" =~ ^[a-z0-9][a-z0-9._-]{0,63}$ ]] || die "a user name is a-z 0-9 . _ - (got '$1')"
  # The broker logs in to itself as the admin with the password in server.properties.
  [[ "$1" != admin ]] || die "the admin's password is set at format time (delete $RUN to renew)"
}

# A new user with a fresh password, or a fresh password for an existing one (a rotation: new
# connections need the new password at once; a client already connected keeps its session
# until it reconnects). A user that is not a service's may write kpi.measurements only.
cmd_add_user() {
  local user="${1:-}" boot password
  valid_user "$user"
  take_lock
  boot="$(running_bootstrap)" || die "no broker running"
  password="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
  config_command "$boot" --add-config "SCRAM-SHA-512=[password=$password]" \
    --entity-type users --entity-name "$user" || die "setting the SCRAM user $user failed"
  store_password "$user" "$password"
  grant "$boot" || die "granting $user its ACLs failed"
  log "user $user has a new password: \`kafka.sh env $user\` prints its settings"
}

# Delete a user: it cannot authenticate any more (its ACLs stay, harmless without the user,
# and serve it again if it is added back).
cmd_remove_user() {
  local user="${1:-}" boot
  valid_user "$user"
  take_lock
  boot="$(running_bootstrap)" || die "no broker running"
  config_command "$boot" --delete-config SCRAM-SHA-512 --entity-type users \
    --entity-name "$user" || die "deleting the SCRAM user $user failed"
  store_password "$user" ""
  log "user $user removed"
}

cmd_stop() {
  take_lock
  local pid
  if ! pid="$(broker_pid)"; then
    rm -f "$PIDFILE" "$BOOTFILE"
    log "no broker running"
    return 0
  fi
  log "stopping the broker (pid $pid)"
  terminate "$pid"
  rm -f "$PIDFILE" "$BOOTFILE"
}

# Stop it and delete its log dir: the next start formats afresh (new users and passwords, the
# ACLs applied again). For a broker only tests used, whose topics and ACLs are disposable.
cmd_reset() {
  cmd_stop
  take_lock
  rm -rf "$DATA" "$CREDS"
  log "log dir $DATA deleted"
}

cmd_status() {
  running_bootstrap
}

cmd_bootstrap() {
  running_bootstrap || die "no broker running"
}

cmd_pid() {
  broker_pid || die "no broker running"
}

case "${1:-}" in
  fetch | start | stop | reset | status | bootstrap | pid) "cmd_$1" ;;
  env) cmd_env "${2:-}" ;;
  add-user) cmd_add_user "${2:-}" ;;
  remove-user) cmd_remove_user "${2:-}" ;;
  *)
    echo "usage: $0 fetch|start|stop|reset|status|bootstrap|pid|env USER|add-user USER|remove-user USER" >&2
    exit 2
    ;;
esac
