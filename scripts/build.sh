#!/usr/bin/env bash
# Builds the `sceneboard` binary the way it ships, for the scripts that use one
# (scripts/package.sh, scripts/lighthouse.sh):
#   default   `cargo leptos build --release --precompress` (the site built in with brotli and
#             gzip copies of each file; wasm-opt installed first)
#   --debug   `cargo leptos build` (what the tests run)
# The binary is then $CARGO_TARGET_DIR/{release,debug}/sceneboard.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sceneboard/target}"
case "${1:-}" in
  "")
    SCENEBOARD_RELEASE=1 "$root/scripts/setup.sh"
    cargo leptos build --release --precompress
    ;;
  --debug)
    "$root/scripts/setup.sh"
    cargo leptos build
    ;;
  *) echo "build: unknown option $1" >&2; exit 2 ;;
esac
