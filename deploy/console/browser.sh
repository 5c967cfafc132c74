#!/usr/bin/env bash
# The console's browser tests drive Debian's headless Chromium through Playwright (no browser
# download): install the package once, as root or through sudo. Idempotent; prints the path.
set -euo pipefail

CHROMIUM="${LODESTAR_CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
  printf 'browser: installing chromium from the Debian packages\n' >&2
  SUDO=""
  [[ "$(id -u)" == 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >&2
fi
echo "$CHROMIUM"
