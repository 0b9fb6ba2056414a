# Source this (`. scripts/dev-env.sh`) before running `cargo test` or `cargo build` by hand:
# it sets the same RUSTFLAGS and LEPTOS_* variables that `cargo leptos build` uses in debug,
# so the dependencies compile once and are shared by both builds (see scripts/test.sh).
export RUSTFLAGS="--cfg erase_components"
export LEPTOS_OUTPUT_NAME=sceneboard LEPTOS_SITE_ROOT=target/site LEPTOS_SITE_PKG_DIR=pkg \
  LEPTOS_SITE_ADDR=127.0.0.1:3000 LEPTOS_RELOAD_PORT=3001 LEPTOS_LIB_DIR=frontend \
  LEPTOS_BIN_DIR=server LEPTOS_HASH_FILES=true LEPTOS_JS_MINIFY=false
export SCENEBOARD_TEST_PG="${SCENEBOARD_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}"
export PATH="$HOME/.cargo/bin:$PATH"
