#!/usr/bin/env bash
# Lighthouse's performance and accessibility scores on its phone profile (simulated slow 4G,
# 4x CPU slowdown, a 412 px screen) for every page, in Debian's Chromium, against the release
# binary copied alone into an empty folder and serving `sceneboard demo` data. Prints one row
# a page (performance score, first and largest contentful paint, total blocking time, layout
# shift, bytes on the wire, accessibility score) and fails when a page's performance scores
# under --min or its accessibility under 100 (BENCHMARKS.md, "Pages on a phone").
#
#   scripts/lighthouse.sh [--debug] [--no-build] [--min 95] [--runs 3] [--accessibility] [PATH ...]
#
# --debug measures the debug build (quicker to build, not what ships). Each page is measured
# --runs times and the median score is kept: Lighthouse's simulation varies by a few points
# from run to run on a busy machine. --accessibility checks accessibility alone, once a page
# (its score does not vary), and names each failing audit: CI runs it on the debug build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sceneboard/target}"

profile=release
build=1
min=95
runs=3
categories=performance,accessibility
pages=()
while [ $# -gt 0 ]; do
  case "$1" in
    --debug) profile=debug ;;
    --no-build) build=0 ;;
    --min) min="$2"; shift ;;
    --runs) runs="$2"; shift ;;
    --accessibility) categories=accessibility; runs=1 ;;
    --*) echo "lighthouse: unknown option $1" >&2; exit 2 ;;
    *) pages+=("$1") ;;
  esac
  shift
done
[ ${#pages[@]} -gt 0 ] || pages=(/login / /campaigns /campaigns/1 /compare /campaigns/new /campaigns/import /audit /settings /users)

if [ "$build" = 1 ]; then
  if [ "$profile" = release ]; then "$root/scripts/build.sh"; else "$root/scripts/build.sh" --debug; fi
fi
for tool in jq curl node; do
  command -v "$tool" >/dev/null || { echo "lighthouse: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$chromium" ] || { echo "lighthouse: no Chromium at $chromium (apt install chromium)" >&2; exit 1; }
if [ ! -x scripts/lighthouse/node_modules/.bin/lighthouse ]; then
  (cd scripts/lighthouse && npm install --no-audit --no-fund --silent)
fi

work="$(mktemp -d)"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# The binary alone in an empty folder: the site it serves is the one built into it.
cp "$CARGO_TARGET_DIR/$profile/sceneboard" "$work/sceneboard"
cd "$work"
unset LEPTOS_SITE_ROOT DATABASE_URL
export SCENEBOARD_DATA_DIR="$work/data" RUST_LOG=warn
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export SCENEBOARD_ADDR="127.0.0.1:$port"
base="http://$SCENEBOARD_ADDR"
./sceneboard migrate >/dev/null
echo "lighthouse-password" | ./sceneboard user add --username lighthouse --role admin >/dev/null
./sceneboard demo > "$work/demo.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 1200); do
  curl -fsS -o /dev/null "$base/healthz" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/demo.log" >&2; exit 1; }
  sleep 0.1
done
session="$(curl -s -D - -o /dev/null -d 'username=lighthouse&password=lighthouse-password' "$base/api/login" \
  | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \(sb_session=[^;]*\).*/\1/p')"
[ -n "$session" ] || { echo "lighthouse: cannot sign in" >&2; exit 1; }

echo "Lighthouse $("$root/scripts/lighthouse/node_modules/.bin/lighthouse" --version), phone profile, $profile build, median of $runs runs"
printf '%-18s %5s %8s %8s %8s %6s %9s %5s\n' page score FCP_ms LCP_ms TBT_ms CLS KB a11y
failed=0
for path in "${pages[@]}"; do
  headers='{}'
  [ "$path" = /login ] || headers="{\"Cookie\": \"$session; i18n_pref_locale=zh\"}"
  rows=()
  for run in $(seq 1 "$runs"); do
    # Chromium sometimes hands Lighthouse no trace (NO_NAVSTART) on a busy machine: one retry.
    for try in 1 2; do
      if "$root/scripts/lighthouse/node_modules/.bin/lighthouse" "$base$path" --quiet --only-categories="$categories" \
        --chrome-path="$chromium" --chrome-flags="--headless=new --no-sandbox --disable-gpu" \
        --extra-headers="$headers" --output=json --output-path="$work/report.json" >/dev/null 2>"$work/lh.err"; then
        break
      fi
      [ "$try" = 1 ] || { cat "$work/lh.err" >&2; exit 1; }
    done
    # Scores of a category not run read as "-".
    rows+=("$(jq -r 'def n(f): (first(f?) // "-");
      [n(.categories.performance.score * 100 | round),
      n(.audits["first-contentful-paint"].numericValue | round),
      n(.audits["largest-contentful-paint"].numericValue | round),
      n(.audits["total-blocking-time"].numericValue | round),
      n(.audits["cumulative-layout-shift"].numericValue * 1000 | round / 1000),
      n(.audits["total-byte-weight"].numericValue / 1024 | round),
      n(.categories.accessibility.score * 100 | round)] | @tsv' "$work/report.json")")
    # Accessibility audits that failed, by name, with the first element each points at.
    jq -r '.categories.accessibility.auditRefs // [] | map(select(.weight > 0) | .id) as $ids
      | $ids[]' "$work/report.json" | while read -r id; do
      jq -r --arg id "$id" '.audits[$id] | select(.score != null and .score < 1)
        | "    accessibility: \(.id): \(.title) (\(.details.items[0].node.snippet // "" | .[0:120]))"' "$work/report.json"
    done | sort -u >> "$work/a11y.txt"
  done
  # The run with the median score.
  row="$(printf '%s\n' "${rows[@]}" | sort -n -k1,1 | sed -n "$(( (runs + 1) / 2 ))p")"
  read -r score fcp lcp tbt cls kb a11y <<< "$row"
  printf '%-18s %5s %8s %8s %8s %6s %9s %5s\n' "$path" "$score" "$fcp" "$lcp" "$tbt" "$cls" "$kb" "$a11y"
  if [ -s "$work/a11y.txt" ]; then sort -u "$work/a11y.txt"; : > "$work/a11y.txt"; fi
  [ "$score" = - ] || [ "$score" -ge "$min" ] || failed=1
  [ "$a11y" = - ] || [ "$a11y" -ge 100 ] || failed=1
done
[ "$failed" = 0 ] || { echo "lighthouse: a page scored under $min, or under 100 for accessibility" >&2; exit 1; }
