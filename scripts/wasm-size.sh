#!/usr/bin/env bash
# Size of the browser bundle as `cargo leptos build --release` ships it (issue 7 target:
# ≤ 350 KB gzipped), without building the release server next to it:
#
#   1. the hydrate crate (`frontend`) for wasm32 with the `wasm-release` profile (fat LTO,
#      one codegen unit, opt-level z, panic=abort; Cargo.toml) and `--cfg erase_components`
#      (Cargo.toml sets `always-erase-components`; `--typed` builds without it, to compare);
#   2. `wasm-bindgen --target web` (the CLI pinned to Cargo.lock's version);
#   3. `wasm-opt -Oz` (npm binaryen, installed by `SCENEBOARD_RELEASE=1 scripts/setup.sh`),
#      the pass cargo-leptos runs on --release;
#   4. prints raw, gzip -9 and brotli (if installed) sizes of the wasm and the JS glue.
#
#   scripts/wasm-size.sh [--no-build] [--typed]
#
# Uses $CARGO_TARGET_DIR (default /var/cache/sceneboard/target); a cold build of the wasm
# side takes 10–20 min on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:${SCENEBOARD_TOOLS:-$HOME/.cache/sceneboard-tools}/node_modules/.bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sceneboard/target}"
unset CARGO_BUILD_RUSTFLAGS
build=1
export RUSTFLAGS="--cfg erase_components"
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --typed) unset RUSTFLAGS ;;
    *) echo "wasm-size: unknown option $arg" >&2; exit 2 ;;
  esac
done
command -v wasm-opt >/dev/null || { echo "wasm-size: wasm-opt missing: run SCENEBOARD_RELEASE=1 scripts/setup.sh" >&2; exit 1; }

if [ "$build" = 1 ]; then
  t0=$SECONDS
  cargo build -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release
  echo "==> wasm build took $((SECONDS - t0)) s" >&2
fi
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/frontend.wasm"
[ -f "$wasm" ] || { echo "wasm-size: $wasm missing; build first" >&2; exit 1; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name sceneboard "$wasm"
wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  -o "$out/sceneboard.opt.wasm" "$out/sceneboard_bg.wasm"

size() { # $1 = file: raw, gzip -9, brotli
  local raw gz br="–"
  raw=$(stat -c %s "$1")
  gz=$(gzip -9 -c "$1" | wc -c)
  command -v brotli >/dev/null && br=$(brotli -c -q 11 "$1" | wc -c)
  printf '| %s | %s | %s | %s |\n' "$2" "$raw" "$gz" "$br"
}
echo "| file | bytes | gzip -9 | brotli -q 11 |"
echo "| --- | ---: | ---: | ---: |"
size "$wasm" "frontend.wasm from cargo (before wasm-bindgen)"
size "$out/sceneboard_bg.wasm" "after wasm-bindgen"
size "$out/sceneboard.opt.wasm" "after wasm-opt -Oz (what is served)"
size "$out/sceneboard.js" "JS glue"
gz=$(gzip -9 -c "$out/sceneboard.opt.wasm" | wc -c)
if [ "$gz" -le 358400 ]; then
  echo "wasm gzipped: $gz bytes ≤ 350 KB ✓"
else
  echo "wasm gzipped: $gz bytes > 350 KB ✗"
fi
