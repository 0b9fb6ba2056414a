#!/usr/bin/env bash
# Installs what a fresh Debian machine with only the Rust toolchain lacks. Each step skips
# itself when already done, so it is cheap to run every time.
#   - wasm32 target, rustfmt and clippy, cargo-leptos 0.3.10, wasm-bindgen-cli at exactly
#     Cargo.lock's version
#   - Debian's Chromium (end-to-end tests; never a downloaded browser), a CJK font, Node.js,
#     and curl, jq and python3 for the fault drill, the scale-out check and the package test
#   - the end2end npm packages (Playwright without its browser download)
#   - wasm-opt from npm's binaryen, needed by `cargo leptos build --release` only
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="${SCENEBOARD_TOOLS:-$HOME/.cache/sceneboard-tools}"
mkdir -p "$tools"
export PATH="$HOME/.cargo/bin:$tools/node_modules/.bin:$PATH"

say() { printf '\033[1;32m==>\033[0m %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32 target"
  rustup target add wasm32-unknown-unknown
fi

for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    say "adding the $component component"
    rustup component add "$component"
  fi
done

if ! cargo leptos --version 2>/dev/null | grep -q '0\.3\.1[01]'; then
  say "installing cargo-leptos 0.3.10 (about 15 minutes on 2 cores, once per machine)"
  cargo install cargo-leptos --version 0.3.10 --locked
fi

# The CLI must match the wasm-bindgen version in Cargo.lock exactly, or hydration breaks.
wbg="$(grep -A1 '^name = "wasm-bindgen"$' "$root/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p')"
if ! wasm-bindgen --version 2>/dev/null | grep -q " $wbg\$"; then
  say "installing wasm-bindgen-cli $wbg"
  cargo install wasm-bindgen-cli --version "$wbg" --force
fi

# Debian packages, each checked on its own: Chromium for the browser tests, a CJK font that
# the server binary embeds for Chinese labels in PNG charts (server/build.rs), Node.js and npm
# for Playwright. apt needs root (sudo if we
# are not).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
# What the fault drill, scale-out check and package test drive the server with.
for tool in curl jq python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "${SCENEBOARD_RELEASE:-0}" = 1 ] && ! command -v wasm-opt >/dev/null 2>&1; then
  say "installing wasm-opt (npm binaryen)"
  npm install --prefix "$tools" --no-audit --no-fund binaryen@132.0.0 >/dev/null
  # On PATH beside cargo: cargo-leptos looks for it there (else it tries to download one).
  mkdir -p "$HOME/.cargo/bin"
  ln -sf "$tools/node_modules/.bin/wasm-opt" "$HOME/.cargo/bin/wasm-opt"
fi

# Again whenever package.json names a package that is not installed yet (a test added one).
if ! (cd "$root/end2end" && node -e 'const p=require("./package.json");for(const d of Object.keys(p.devDependencies))require.resolve(d+"/package.json")' 2>/dev/null); then
  say "installing end2end npm packages"
  (cd "$root/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null)
fi
