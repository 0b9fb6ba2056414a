#!/usr/bin/env bash
# Starts a throwaway Sceneboard for the browser tests: fresh SQLite data dir, one admin and
# one staff user, then `serve`. Playwright's webServer runs this and waits for /healthz.
# `start-server.sh demo` serves `sceneboard demo`'s seeded history instead (the chart and
# accessibility tests read pages full of data), at E2E_DEMO_ADDR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="${SCENEBOARD_BIN:-$root/target/debug/sceneboard}"
data="$(mktemp -d)"
export SCENEBOARD_DATA_DIR="$data"
export DATABASE_URL="${E2E_DATABASE_URL:-sqlite://$data/e2e.db?mode=rwc}"
export SCENEBOARD_ADDR="${E2E_ADDR:-127.0.0.1:3999}"
mode="${1:-}"
[ "$mode" = demo ] && SCENEBOARD_ADDR="${E2E_DEMO_ADDR:-127.0.0.1:3997}"
# The binary alone in an empty folder, as an operator might copy it: the site it serves is the
# one built into it (no LEPTOS_SITE_ROOT), so these tests hydrate pages from that copy.
unset LEPTOS_SITE_ROOT
copy="$data/bin"
mkdir -p "$copy"
cp "$bin" "$copy/sceneboard"
bin="$copy/sceneboard"
cd "$copy"
export RUST_LOG="${RUST_LOG:-warn}"
"$bin" migrate >/dev/null
echo "admin-password" | "$bin" user add --username admin --role admin >/dev/null
echo "staff-password" | "$bin" user add --username staff --role staff >/dev/null
if [ "$mode" = demo ]; then
  trap 'rm -rf "$copy"' EXIT
  # Six weeks of history ending now, so charts end in today's bucket, still filling.
  "$bin" demo --seed-only --days 42 --campaigns 8 --events 12000 >/dev/null
  # An API key for tests/api.spec.ts, where that test looks for it (the port names the file).
  "$bin" api-key add --name e2e 2>/dev/null >"${TMPDIR:-/tmp}/sceneboard-e2e-${SCENEBOARD_ADDR##*:}.key"
  "$bin" serve
  exit
fi
# Digest emails go to the SMTP sink tests/digests.spec.ts listens with on this port (plain
# text: the server allows it to this machine only).
export SCENEBOARD_SMTP_URL="smtp://127.0.0.1:${E2E_SMTP_PORT:-3996}?tls=none"
export SCENEBOARD_SMTP_FROM="Sceneboard <digest@example.com>"
# The WeChat simulator stands in for api.weixin.qq.com, with its sandbox app registered as an
# account, so campaigns get real tickets, and its scans are pushed to our callback route; it
# stops with this script.
sim_addr="${E2E_SIM_ADDR:-127.0.0.1:3998}"
# The Token through the environment (as an operator should: never on a command line).
export SCENEBOARD_ACCOUNT_TOKEN=sandboxtoken
"$bin" wechat-sim --addr "$sim_addr" \
  --callback "http://$SCENEBOARD_ADDR/wechat/callback/wx5ce0b0a4d0000001" >/dev/null 2>&1 &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true; rm -rf "$copy"' EXIT
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/${sim_addr%:*}/${sim_addr##*:}") 2>/dev/null && break; sleep 0.1; done
echo "sandbox-secret-0123456789abcdef" | "$bin" account add --name "Sandbox 沙箱" --app-id wx5ce0b0a4d0000001 \
  --api-base "http://$sim_addr" >/dev/null
"$bin" serve
