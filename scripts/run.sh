#!/usr/bin/env bash
# One command to try Sceneboard: install what is missing, build, and start the demo on SQLite
# (data in ./data) at http://127.0.0.1:3000: a sandbox account bound to the built-in WeChat
# simulator, campaigns and 90 days of events (seeded on the first start only). On the first
# start it asks for a password for the user `admin` (or takes SCENEBOARD_ADMIN_PASSWORD);
# without either, the demo creates `admin` and prints a random password once.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
"$root/scripts/setup.sh"
export PATH="$HOME/.cargo/bin:$PATH"
cargo leptos build
bin="${CARGO_TARGET_DIR:-$root/target}/debug/sceneboard"
export SCENEBOARD_DATA_DIR="${SCENEBOARD_DATA_DIR:-data}"
mkdir -p "$SCENEBOARD_DATA_DIR"
if [ ! -e "$SCENEBOARD_DATA_DIR/.admin-created" ]; then
  pw="${SCENEBOARD_ADMIN_PASSWORD:-}"
  if [ -z "$pw" ] && [ -t 0 ]; then
    read -rsp "Choose a password for the user 'admin' (8+ characters): " pw; echo
  fi
  if [ -n "$pw" ]; then
    printf '%s\n' "$pw" | "$bin" user add --username admin --role admin && touch "$SCENEBOARD_DATA_DIR/.admin-created"
  fi
fi
exec "$bin" demo
