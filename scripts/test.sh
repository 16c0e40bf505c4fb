#!/usr/bin/env bash
# Runs the whole xmppd test suite. On a fresh Debian machine it first
# installs the real XMPP clients the interop tests drive (slixmpp,
# go-sendxmpp, xmpp.js on node) and the browser the web chat page is tested
# in (Debian's chromium, driven over CDP: no browser download); with CI=true
# a missing client fails the suite instead of skipping its test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
/usr/bin/python3 -c 'import slixmpp' 2>/dev/null || need+=(python3-slixmpp)
command -v go-sendxmpp >/dev/null 2>&1 || need+=(go-sendxmpp)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing test clients: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "note: missing ${need[*]}; interop tests will be skipped (install them with apt-get)" >&2
  fi
fi

# xmpp.js (@xmpp/client, pinned by its package-lock.json) for the
# WebSocket interop test.
js=xmppd/testdata/xmppjs
if [ ! -d "$js/node_modules" ] && command -v npm >/dev/null 2>&1; then
  npm ci --prefix "$js" --no-audit --no-fund --loglevel=error || echo "note: npm ci in $js failed; the xmpp.js test will be skipped" >&2
fi

go vet ./...
go test -count=1 -timeout 12m "$@" ./...

# A short fuzz pass of every Fuzz target after the tests: FUZZTIME per
# target (default 4s when CI=true, none otherwise; FUZZTIME=0 skips it).
if [ -z "${FUZZTIME:-}" ] && [ "${CI:-}" = true ]; then
  FUZZTIME=4s
fi
if [ -n "${FUZZTIME:-}" ] && [ "$FUZZTIME" != 0 ]; then
  bash scripts/fuzz.sh "$FUZZTIME"
fi
