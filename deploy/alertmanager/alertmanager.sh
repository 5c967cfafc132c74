#!/usr/bin/env bash
# Prometheus Alertmanager and amtool, built from the Go module proxy with the machine's Go
# (recipe: shared/notes/alertmanager-and-browser.md), for the tests and the run command.
#
#   deploy/alertmanager/alertmanager.sh fetch          build both binaries once into the cache
#   deploy/alertmanager/alertmanager.sh bin            print the folder holding them (fetching first)
#   deploy/alertmanager/alertmanager.sh start CONFIG   start (or reuse) one on a free loopback
#                                                      port; prints its base URL
#   deploy/alertmanager/alertmanager.sh stop           stop it (none running: nothing to do)
#
# v0.28.1 because newer module versions lack the embedded UI assets and do not build with
# `go install`. Everything lives in ${LODESTAR_CACHE:-<repo>/.cache}/alertmanager (git-ignored).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${LODESTAR_CACHE:-$REPO/.cache}"
VERSION="v0.28.1"
ADIR="$CACHE/alertmanager"
BIN="$ADIR/bin"
MARKER="$BIN/.complete"             # holds the version of a complete build
RUN="$ADIR/run"
PIDFILE="$RUN/alertmanager.pid"
URLFILE="$RUN/url"
LOCKFILE="$ADIR/.lock"

log() { printf 'alertmanager.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

take_lock() {
  mkdir -p "$ADIR"
  exec 9>"$LOCKFILE"
  flock -w 600 9 || die "timed out waiting for the lock $LOCKFILE"
}

fetched() { [[ -f "$MARKER" && "$(cat "$MARKER")" == "$VERSION" ]]; }

do_fetch() {
  fetched && return 0
  command -v go >/dev/null || die "go not found (the machine's Go builds Alertmanager)"
  log "building alertmanager and amtool $VERSION from the Go module proxy (about a minute each)"
  local tmp="$BIN.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  for cmd in alertmanager amtool; do
    GOBIN="$tmp" go install "github.com/prometheus/alertmanager/cmd/$cmd@$VERSION" >&2 \
      || { rm -rf "$tmp"; die "go install $cmd@$VERSION failed"; }
  done
  printf '%s\n' "$VERSION" >"$tmp/.complete"
  rm -rf "$BIN"
  mv "$tmp" "$BIN"
}

running_url() {
  local pid
  [[ -f "$PIDFILE" && -f "$URLFILE" ]] || return 1
  pid="$(<"$PIDFILE")"
  kill -0 "$pid" 2>/dev/null || return 1
  curl -fsS -o /dev/null "$(<"$URLFILE")/-/ready" 2>/dev/null || return 1
  cat "$URLFILE"
}

do_start() {
  local config="$1" port url pid
  [[ -f "$config" ]] || die "no such config file: $config"
  running_url && return 0
  do_fetch
  mkdir -p "$RUN/data"
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  url="http://127.0.0.1:$port"
  # Clustering off (empty listen address), or it tries to gossip on the network.
  nohup "$BIN/alertmanager" --config.file="$config" --storage.path="$RUN/data" \
    --web.listen-address="127.0.0.1:$port" --web.external-url="$url" \
    --cluster.listen-address= >"$RUN/alertmanager.log" 2>&1 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$PIDFILE"
  printf '%s\n' "$url" >"$URLFILE"
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$url/-/ready" 2>/dev/null; then
      printf '%s\n' "$url"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 30 "$RUN/alertmanager.log" >&2 || true
  die "alertmanager did not become ready"
}

do_stop() {
  local pid
  [[ -f "$PIDFILE" ]] || return 0
  pid="$(<"$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE" "$URLFILE"
}

case "${1:-}" in
  fetch) take_lock; do_fetch ;;
  bin) take_lock; do_fetch; printf '%s\n' "$BIN" ;;
  start) [[ $# -eq 2 ]] || die "usage: $0 start CONFIG"; take_lock; do_start "$2" ;;
  stop) take_lock; do_stop ;;
  *) die "usage: $0 fetch|bin|start CONFIG|stop" ;;
esac
