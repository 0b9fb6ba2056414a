#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. tools (scripts/setup.sh) and PostgreSQL (started if down)
#   2. one `cargo leptos build` (server + wasm, debug); then `cargo fmt --check` and clippy
#      with warnings as errors, on the server build and on the wasm (hydrate) build
#   3. `cargo test` for every crate: unit, property, service and route tests; the database
#      tests run each case on a fresh SQLite file AND a fresh PostgreSQL database
#   4. Playwright in Debian's Chromium, hydrated and with JavaScript off (axe-core among
#      them), then Lighthouse's accessibility audit of every page (score 100 required)
#   5. the callback fault drill (scripts/fault-drill.sh): PostgreSQL stopped and the server
#      SIGKILLed under load; every acknowledged push must be stored exactly once
#      then the spool's disk full, and a slow or down WeChat API
#   6. the short scale-out run (scripts/scale-out.sh --short): three instances on one
#      PostgreSQL database under load; nothing lost or doubled, one token fetch, jobs once
#   7. the package test (scripts/package-test.sh): the .deb and the tarball of the debug
#      build, installed into a scratch root and started with the systemd unit's environment
#   8. a short fuzz run of the wechat crate's parsers (scripts/fuzz-smoke.sh)
# The test build uses the same RUSTFLAGS and LEPTOS_* as cargo-leptos' debug build, so the
# dependencies compile once for both.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
"$root/scripts/setup.sh"
export PATH="$HOME/.cargo/bin:$PATH"
# One target dir for every stage, named for the scripts it calls (scale-out.sh would
# otherwise look in its own default).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "==> starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
export SCENEBOARD_TEST_PG="${SCENEBOARD_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}"

echo "==> cargo leptos build"
cargo leptos build

export RUSTFLAGS="--cfg erase_components"
export LEPTOS_OUTPUT_NAME=sceneboard LEPTOS_SITE_ROOT=target/site LEPTOS_SITE_PKG_DIR=pkg \
  LEPTOS_SITE_ADDR=127.0.0.1:3000 LEPTOS_RELOAD_PORT=3001 LEPTOS_LIB_DIR=frontend \
  LEPTOS_BIN_DIR=server LEPTOS_HASH_FILES=true LEPTOS_JS_MINIFY=false
echo "==> cargo fmt --check, and clippy on both builds of the app crate (warnings are errors)"
cargo fmt --all --check
cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

echo "==> cargo test (SQLite and PostgreSQL)"
cargo test --workspace --exclude frontend

echo "==> Playwright (hydrated and JavaScript off)"
export SCENEBOARD_BIN="$CARGO_TARGET_DIR/debug/sceneboard"
(cd end2end && npx playwright test)
echo "==> Lighthouse accessibility (every page, debug build; 100 required)"
"$root/scripts/lighthouse.sh" --debug --no-build --accessibility

echo "==> fault drill (PostgreSQL stopped, the server killed, a full spool disk, a slow WeChat)"
"$root/scripts/fault-drill.sh"

echo "==> scale-out, short (three instances on one PostgreSQL database)"
cargo build -q -p loadgen
"$root/scripts/scale-out.sh" --short --debug --no-build
echo "==> package test (the .deb installed into a scratch root, started as its systemd unit would)"
"$root/scripts/package-test.sh" --no-build
echo "==> fuzz smoke (wechat XML, decrypt, signatures; 20 s each over the committed corpora)"
"$root/scripts/fuzz-smoke.sh"
