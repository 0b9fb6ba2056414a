#!/usr/bin/env bash
# Starts a throwaway Sceneboard for the browser tests: fresh SQLite data dir, one admin and
# one staff user, then `serve`. Playwright's webServer runs this and waits for /healthz.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="${SCENEBOARD_BIN:-$root/target/debug/sceneboard}"
data="$(mktemp -d)"
export SCENEBOARD_DATA_DIR="$data"
export DATABASE_URL="${E2E_DATABASE_URL:-sqlite://$data/e2e.db?mode=rwc}"
export SCENEBOARD_ADDR="${E2E_ADDR:-127.0.0.1:3999}"
export LEPTOS_SITE_ROOT="$root/target/site"
export RUST_LOG="${RUST_LOG:-warn}"
"$bin" migrate >/dev/null
echo "admin-password" | "$bin" user add --username admin --role admin >/dev/null
echo "staff-password" | "$bin" user add --username staff --role staff >/dev/null
exec "$bin" serve
