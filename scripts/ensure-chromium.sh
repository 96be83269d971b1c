#!/usr/bin/env bash
# Make sure Debian's chromium is present (the browser parts use it through Playwright's
# executable_path; we never download a browser build).
set -euo pipefail
CHROMIUM=${HYBRIDLIB_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "chromium missing: installing Debian's chromium package (apt-get)…"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  [ -x "$CHROMIUM" ] && exit 0
fi
echo "Chromium not found at $CHROMIUM. Install it with:  sudo apt-get install -y chromium" >&2
echo "(or set HYBRIDLIB_CHROMIUM to a Chromium binary). Browser tests and in-browser profiling need it." >&2
exit 1
