#!/usr/bin/env bash
# Fault drill for the WeChat callback (CI runs it after the main suites):
#   1. starts the server ($SCENEBOARD_BIN, default target/debug/sceneboard; nothing is built
#      here except the drill's load client if its test binary is missing) on a fresh
#      PostgreSQL database;
#   2. under load, stops PostgreSQL and starts it again (pushes go to the spool meanwhile);
#   3. under load, kills the server with SIGKILL and starts it again (the spool is replayed);
#   4. checks that every push the server acknowledged is stored exactly once, and that the
#      counters agree with the stored events.
# The load is the ignored test `drill_load` in server/tests/callback_load.rs; it records each
# acknowledged push. PostgreSQL is left running whatever happens. About a minute.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"

bin="${SCENEBOARD_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/sceneboard}"
[ -x "$bin" ] || { echo "fault-drill: $bin not found; build it first (cargo leptos build)" >&2; exit 1; }
pg_version="$(ls /etc/postgresql | head -n1)"
pg_admin="postgres://postgres@127.0.0.1:5432/postgres"
db="sb_drill_$$"
work="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
app_id="wxd000000000000001"
token="drill-token"
server_pid=""

log() { echo "==> fault-drill: $*"; }

pg_start() {
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start 2>/dev/null || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && return 0; sleep 0.5; done
  echo "fault-drill: PostgreSQL did not come back" >&2
  return 1
}

start_server() {
  "$bin" serve >>"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 60); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.25
  done
  echo "fault-drill: the server did not start; its log:" >&2
  tail -n 30 "$work/server.log" >&2
  return 1
}

cleanup() {
  status=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  pg_start || true
  psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  if [ "$status" -ne 0 ] && [ -f "$work/server.log" ]; then
    echo "fault-drill: FAILED; last lines of the server log:" >&2
    tail -n 40 "$work/server.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# Build the load client up front (a no-op after the main test suites), so it can't eat the
# drill's time.
cargo test -q -p server --test callback_load --no-run 2>/dev/null || cargo test -p server --test callback_load --no-run

pg_start
psql -q "$pg_admin" -c "CREATE DATABASE $db" >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export SCENEBOARD_ADDR="127.0.0.1:$port"
export SCENEBOARD_DATA_DIR="$work/data"
export SCENEBOARD_SECRET_KEY="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
# The ingest writer logs its spool replays at info: the drill checks they happened.
export RUST_LOG="warn,service::ingest=info"
"$bin" migrate >/dev/null
# The account and its campaign, straight into the tables: the callback never opens the
# AppSecret, so a placeholder is enough here.
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" >/dev/null <<SQL
INSERT INTO wechat_accounts (name, app_id, app_secret_enc, token, aes_key_enc, message_mode, api_base_url,
  token_endpoint, timezone, created_at, updated_at)
VALUES ('Drill', '$app_id', 'unused', '$token', NULL, 'plain', 'http://127.0.0.1:9', 'stable', 'Asia/Shanghai', now(), now());
INSERT INTO campaigns (account_id, name, kind, scene, auto_renew, created_at, updated_at)
SELECT id, 'Drill poster', 'permanent', '1', false, now(), now() FROM wechat_accounts WHERE app_id = '$app_id';
SQL

export SCENEBOARD_DRILL_URL="http://127.0.0.1:$port/wechat/callback/$app_id"
export SCENEBOARD_DRILL_TOKEN="$token"
export SCENEBOARD_DRILL_ACKS="$work/acks.csv"
export SCENEBOARD_DRILL_COUNT="${SCENEBOARD_DRILL_COUNT:-2400}"
export SCENEBOARD_DRILL_PACE_MS="${SCENEBOARD_DRILL_PACE_MS:-25}"
# The load generator is the callback_load test binary, run directly: through `cargo test` it
# could wait on cargo's build-directory lock (another build running) and start only after
# PostgreSQL is back, and the drill would test nothing.
load_bin="$(cargo test -q -p server --test callback_load --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("executable") and m.get("target", {}).get("name") == "callback_load": print(m["executable"])' | tail -n1)"
[ -x "$load_bin" ] || { echo "fault-drill: cannot find the callback_load test binary" >&2; exit 1; }
load() {
  SCENEBOARD_DRILL_PREFIX="$1" "$load_bin" --ignored --exact drill_load --nocapture >>"$work/load.log" 2>&1
}

start_server
log "server up on :$port, database $db"

log "phase 1: PostgreSQL stopped and started again under load"
load oDrillA &
load_pid=$!
sleep 3
pg_ctlcluster --skip-systemctl-redirect "$pg_version" main stop
log "PostgreSQL stopped"
sleep 4
pg_start
log "PostgreSQL started"
wait "$load_pid"

log "phase 2: server killed with SIGKILL and restarted under load"
load oDrillB &
load_pid=$!
sleep 3
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null || true
log "server killed"
start_server
log "server restarted"
wait "$load_pid"

# Let the spool drain (the replay runs in the background).
spool="$SCENEBOARD_DATA_DIR/callback-spool.jsonl"
for _ in $(seq 1 120); do
  [ ! -s "$spool" ] && break
  sleep 0.25
done
[ ! -s "$spool" ] || { echo "fault-drill: the spool was not replayed ($(wc -l <"$spool") lines left)" >&2; exit 1; }
grep -h "drill load:" "$work/load.log" | sed 's/^/    /'

read -r acked missing duplicated counted subscribes subscriptions <<<"$(psql -q -At -F ' ' -v ON_ERROR_STOP=1 "$DATABASE_URL" <<SQL
CREATE TEMP TABLE acks (openid text, create_time bigint);
\copy acks FROM '$SCENEBOARD_DRILL_ACKS' WITH (FORMAT csv)
SELECT (SELECT count(*) FROM acks),
       (SELECT count(*) FROM acks a WHERE NOT EXISTS
          (SELECT 1 FROM events e WHERE e.openid = a.openid AND e.create_time = a.create_time)),
       (SELECT count(*) FROM (SELECT openid_hash, create_time FROM events GROUP BY 1, 2 HAVING count(*) > 1) d),
       (SELECT coalesce(sum(new_followers), 0) FROM campaign_hourly),
       (SELECT count(*) FROM events WHERE kind = 'subscribe' AND campaign_id IS NOT NULL),
       (SELECT count(*) FROM subscriptions);
SQL
)"
log "acknowledged $acked, missing $missing, stored twice $duplicated; new_followers counted $counted for $subscribes stored subscribes ($subscriptions subscriptions)"
[ "$acked" -gt 0 ] || { echo "fault-drill: no push was acknowledged" >&2; exit 1; }
[ "$missing" -eq 0 ] || { echo "fault-drill: $missing acknowledged pushes were lost" >&2; exit 1; }
[ "$duplicated" -eq 0 ] || { echo "fault-drill: $duplicated pushes were stored twice" >&2; exit 1; }
[ "$counted" -eq "$subscribes" ] && [ "$subscriptions" -eq "$subscribes" ] \
  || { echo "fault-drill: counters disagree with the stored events" >&2; exit 1; }
grep -q "database unreachable" "$work/server.log" \
  || { echo "fault-drill: the server never noticed PostgreSQL was down (drill too short?)" >&2; exit 1; }
grep -q "spooled pushes stored" "$work/server.log" \
  || { echo "fault-drill: nothing went through the spool (drill too short?)" >&2; exit 1; }
log "OK: every acknowledged push stored exactly once"
