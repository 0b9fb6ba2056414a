#!/usr/bin/env bash
# Analytics benchmark on 10 M events (issue 6): seeds a year of demo data for 200 campaigns
# through the real ingestion path (`sceneboard demo --seed-only`, release build) on SQLite,
# copies the same rows into PostgreSQL (scripts/sqlite-to-pg.py: seeding 10 M events through
# the one-writer ingest path on PostgreSQL takes hours on 2 cores; SCENEBOARD_BENCH_PG_SEED=ingest
# seeds it that way anyway), then runs `cargo bench -p server --bench analytics` against each.
#
#   scripts/bench-analytics.sh [EVENTS]        # default 10000000; e.g. 1000000 for a quick look
#
# Seeded databases are kept (bench-data/ and the PostgreSQL database sceneboard_bench) and
# reused by later runs; delete them to seed again. Figures go to BENCHMARKS.md by hand.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. scripts/dev-env.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sceneboard/target}"
events="${1:-10000000}"
pg_admin="${SCENEBOARD_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}"
pg_url="${pg_admin%/*}/sceneboard_bench"

echo "==> release build (server binary and the benchmark)"
cargo build --release -p server --bin sceneboard
cargo bench -p server --bench analytics --no-run
bin="$CARGO_TARGET_DIR/release/sceneboard"

seed() { # $1 = DATABASE_URL, $2 = data dir
  mkdir -p "$2"
  if DATABASE_URL="$1" SCENEBOARD_DATA_DIR="$2" "$bin" migrate >/dev/null &&
     [ -f "$2/seeded" ]; then
    echo "    already seeded ($(cat "$2/seeded"))"; return
  fi
  local start=$SECONDS
  DATABASE_URL="$1" SCENEBOARD_DATA_DIR="$2" SCENEBOARD_ADDR=127.0.0.1:0 RUST_LOG=warn \
    /usr/bin/time -f "    peak RSS %M KB" "$bin" demo --days 365 --campaigns 200 --events "$events" --seed-only
  echo "$events events asked, seeded in $((SECONDS - start)) s" > "$2/seeded"
  cat "$2/seeded"
}

echo "==> SQLite: seeding $events events"
seed "sqlite://$root/bench-data/sqlite/sceneboard.db?mode=rwc" "$root/bench-data/sqlite"
echo "==> SQLite: benchmark"
DATABASE_URL="sqlite://$root/bench-data/sqlite/sceneboard.db?mode=rwc" SCENEBOARD_DATA_DIR="$root/bench-data/sqlite" \
  RUST_LOG=warn cargo bench -p server --bench analytics

echo "==> PostgreSQL: seeding $events events"
psql "$pg_admin" -qtAc "SELECT 1 FROM pg_database WHERE datname = 'sceneboard_bench'" | grep -q 1 ||
  psql "$pg_admin" -qc "CREATE DATABASE sceneboard_bench"
if [ "${SCENEBOARD_BENCH_PG_SEED:-copy}" = ingest ]; then
  seed "$pg_url" "$root/bench-data/pg"
elif [ ! -f "$root/bench-data/pg/seeded" ]; then
  mkdir -p "$root/bench-data/pg"
  # The same secret key: follower hashes and sealed secrets were made with it.
  cp "$root/bench-data/sqlite/secret.key" "$root/bench-data/pg/secret.key"
  DATABASE_URL="$pg_url" SCENEBOARD_DATA_DIR="$root/bench-data/pg" "$bin" migrate >/dev/null
  start=$SECONDS
  python3 scripts/sqlite-to-pg.py "$root/bench-data/sqlite/sceneboard.db" "$pg_url"
  echo "copied from the SQLite seed in $((SECONDS - start)) s" > "$root/bench-data/pg/seeded"
  cat "$root/bench-data/pg/seeded"
else
  echo "    already seeded ($(cat "$root/bench-data/pg/seeded"))"
fi
echo "==> PostgreSQL: benchmark"
DATABASE_URL="$pg_url" SCENEBOARD_DATA_DIR="$root/bench-data/pg" RUST_LOG=warn cargo bench -p server --bench analytics
