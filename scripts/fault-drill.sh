#!/usr/bin/env bash
# Fault drill for the WeChat callback (CI runs it after the main suites):
#   1. starts the server ($SCENEBOARD_BIN, default target/debug/sceneboard; nothing is built
#      here except the drill's load client if its test binary is missing) on a fresh
#      PostgreSQL database;
#   2. under load, stops PostgreSQL and starts it again (pushes go to the spool meanwhile);
#   3. under load, kills the server with SIGKILL and starts it again (the spool is replayed);
#   4. a cold start in an outage: the server starts while PostgreSQL is down (live, not
#      ready), verifies pushes with its sealed accounts file and spools them; PostgreSQL
#      comes back under load;
#   5. checks that every push the server acknowledged is stored exactly once, and that the
#      counters agree with the stored events;
#   6. with the spool on a full 64 KiB tmpfs, stops PostgreSQL under load: pushes that
#      neither the database nor the spool can take are refused (503, WeChat retries), the
#      acknowledged ones are still stored exactly once, a signed-in page says so in words,
#      and /livez says the instance cannot take pushes until the spool drains;
#   7. against the WeChat simulator made slow (10 s) and then down: creating a campaign ends
#      in bounded time with WeChat named, nothing is stored, the dashboard's banner says it
#      in words, and it goes away once WeChat answers again.
# Each step waits for what it needs (acknowledged pushes, spool lines, log lines), bounded,
# rather than for a fixed time.
# Step 5 mounts a tmpfs, so the drill runs as root (as CI does).
# The load is the ignored test `drill_load` in server/tests/callback_load.rs; it records each
# acknowledged push. PostgreSQL is left running whatever happens. About two minutes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# The build flags of scripts/test.sh, so the load client builds (and links) when the drill
# runs on its own, and reuses the main suite's build when CI runs it.
. "$root/scripts/dev-env.sh"

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
sim_pid=""

log() { echo "==> fault-drill: $*"; }

pg_start() {
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start 2>/dev/null || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && return 0; sleep 0.5; done
  echo "fault-drill: PostgreSQL did not come back" >&2
  return 1
}

# Up means live (/livez), which holds with the database down too.
start_server() {
  "$bin" serve >>"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 60); do
    curl -fsS "http://127.0.0.1:$port/livez" >/dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.25
  done
  echo "fault-drill: the server did not start; its log:" >&2
  tail -n 30 "$work/server.log" >&2
  return 1
}

cleanup() {
  status=$?
  for pid in "$server_pid" "$sim_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  mountpoint -q "$work/data" 2>/dev/null && umount "$work/data"
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

# wait_until SECONDS WHAT CMD...: runs CMD every 0.1 s until it succeeds; fails the drill
# with WHAT after SECONDS.
wait_until() {
  local limit=$1 what=$2
  shift 2
  local end=$((SECONDS + limit))
  until "$@"; do
    [ "$SECONDS" -lt "$end" ] || { echo "fault-drill: gave up after ${limit}s waiting for $what" >&2; return 1; }
    sleep 0.1
  done
}
lines_of() { if [ -f "$1" ]; then tr -d '\000' <"$1" | wc -l; else echo 0; fi; }
# At least N acknowledged pushes recorded by the load client.
acks_reach() { [ "$(lines_of "$SCENEBOARD_DRILL_ACKS")" -ge "$1" ]; }
# At least N pushes journaled in the spool.
spool_reaches() { [ "$(lines_of "$spool")" -ge "$1" ]; }
in_log() { grep -q "$1" "$work/server.log"; }
status_is() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$1")" = "$2" ]; }

# Build the load client up front (a no-op after the main test suites), so it can't eat the
# drill's time.
cargo test -q --workspace --exclude frontend --test callback_load --no-run 2>/dev/null \
  || cargo test --workspace --exclude frontend --test callback_load --no-run

pg_start
psql -q "$pg_admin" -c "CREATE DATABASE $db" >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export SCENEBOARD_ADDR="127.0.0.1:$port"
export SCENEBOARD_DATA_DIR="$work/data"
spool="$SCENEBOARD_DATA_DIR/callback-spool.jsonl"
export SCENEBOARD_SECRET_KEY="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
# The ingest writer logs its spool replays, and startup its late migration, at info: the
# drill checks they happened.
export RUST_LOG="warn,service::ingest=info,server::startup=info"
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
load_bin="$(cargo test -q --workspace --exclude frontend --test callback_load --no-run --message-format=json 2>/dev/null \
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

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

log "phase 1: PostgreSQL stopped and started again under load"
load oDrillA &
load_pid=$!
wait_until 30 "the first acknowledged pushes" acks_reach 100
pg_ctlcluster --skip-systemctl-redirect "$pg_version" main stop
log "PostgreSQL stopped"
wait_until 30 "pushes spooled during the outage" spool_reaches 100
pg_start
log "PostgreSQL started"
wait "$load_pid"

log "phase 2: server killed with SIGKILL and restarted under load"
before="$(lines_of "$SCENEBOARD_DRILL_ACKS")"
load oDrillB &
load_pid=$!
wait_until 30 "acknowledged pushes before the kill" acks_reach $((before + 100))
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null || true
log "server killed"
start_server
log "server restarted"
wait "$load_pid"

log "phase 3: a cold start while PostgreSQL is down"
stop_server
pg_ctlcluster --skip-systemctl-redirect "$pg_version" main stop
log "PostgreSQL stopped; starting the server"
start_server
status_is /readyz 503 || { echo "fault-drill: /readyz did not say 503 without the database" >&2; exit 1; }
in_log "the database cannot be reached: serving the callback from the spool" \
  || { echo "fault-drill: the server did not start in its outage mode" >&2; exit 1; }
SCENEBOARD_DRILL_COUNT=800 load oDrillD &
load_pid=$!
wait_until 30 "pushes a cold server verified and spooled" spool_reaches 100
log "a cold server acknowledged $(lines_of "$spool") pushes from its spool; starting PostgreSQL"
pg_start
wait "$load_pid"
wait_until 60 "/readyz to say ready once PostgreSQL is back" status_is /readyz 200
in_log "migrations applied, background jobs started" \
  || { echo "fault-drill: the server did not migrate and start its jobs once the database answered" >&2; exit 1; }

# Let the spool drain (the replay runs in the background).
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
log "OK: every acknowledged push stored exactly once, a cold start in an outage included"

# A staff user and a session, for reading pages as marketing staff do (in the default
# language, Simplified Chinese).
printf 'drill-password\n' | "$bin" user add --username drill --role staff >/dev/null
login() {
  curl -fsS -o /dev/null -c "$work/cookies" -d username=drill -d password=drill-password \
    "http://127.0.0.1:$port/api/login"
}

log "phase 4: the spool's disk full while PostgreSQL is down, under load"
stop_server
mount -t tmpfs -o size=64k tmpfs "$SCENEBOARD_DATA_DIR"
: >"$SCENEBOARD_DRILL_ACKS"
start_server
login
SCENEBOARD_DRILL_COUNT=1200 load oDrillC &
load_pid=$!
wait_until 30 "the first acknowledged pushes" acks_reach 50
pg_ctlcluster --skip-systemctl-redirect "$pg_version" main stop
log "PostgreSQL stopped"
wait_until 60 "the spool's disk to fill up" in_log "cannot write the spool"
status_is /livez 503 || { echo "fault-drill: /livez said live with the spool's disk full" >&2; exit 1; }
page="$(curl -sS -b "$work/cookies" -w '\n%{http_code}' "http://127.0.0.1:$port/campaigns")"
code="${page##*$'\n'}"
[ "$code" = 503 ] || { echo "fault-drill: a page answered $code while the database was down (503 expected)" >&2; exit 1; }
grep -q "用于暂存扫码的磁盘已满" <<<"$page" \
  || { echo "fault-drill: the page did not say that scans cannot be saved" >&2; exit 1; }
log "a signed-in page says: the database is down and the spool's disk is full"
pg_start
log "PostgreSQL started"
wait "$load_pid"
for _ in $(seq 1 120); do
  [ ! -s "$spool" ] && break
  sleep 0.25
done
[ ! -s "$spool" ] || { echo "fault-drill: the spool was not replayed" >&2; exit 1; }
wait_until 10 "/livez once the spool drained" status_is /livez 200
grep -h "drill load:" "$work/load.log" | tail -n1 | sed 's/^/    /'
refused="$(grep -h "drill load:" "$work/load.log" | tail -n1 | sed -E 's/.* ([0-9]+) never acknowledged.*/\1/')"
read -r acked missing duplicated <<<"$(psql -q -At -F ' ' -v ON_ERROR_STOP=1 "$DATABASE_URL" <<SQL
CREATE TEMP TABLE acks (openid text, create_time bigint);
\copy acks FROM '$SCENEBOARD_DRILL_ACKS' WITH (FORMAT csv)
SELECT (SELECT count(*) FROM acks),
       (SELECT count(*) FROM acks a WHERE NOT EXISTS
          (SELECT 1 FROM events e WHERE e.openid = a.openid AND e.create_time = a.create_time)),
       (SELECT count(*) FROM (SELECT openid_hash, create_time FROM events GROUP BY 1, 2 HAVING count(*) > 1) d);
SQL
)"
log "acknowledged $acked, refused $refused, missing $missing, stored twice $duplicated"
[ "$missing" -eq 0 ] && [ "$duplicated" -eq 0 ] \
  || { echo "fault-drill: acknowledged pushes lost or doubled with a full spool disk" >&2; exit 1; }
[ "$refused" -gt 0 ] || { echo "fault-drill: nothing was refused (was the spool's disk really full?)" >&2; exit 1; }
grep -q "cannot write the spool" "$work/server.log" \
  || { echo "fault-drill: the server never failed to write the spool" >&2; exit 1; }
log "OK: a full spool disk refuses pushes (WeChat retries them) and loses none it acknowledged"
stop_server
umount "$SCENEBOARD_DATA_DIR"

log "phase 5: the WeChat API slow (10 s), then down"
sim_port=$((port + 1))
"$bin" wechat-sim --addr "127.0.0.1:$sim_port" >>"$work/sim.log" 2>&1 &
sim_pid=$!
sim="http://127.0.0.1:$sim_port"
for _ in $(seq 1 40); do curl -fsS "$sim/sim/stats" >/dev/null 2>&1 && break; sleep 0.25; done
# The AppSecret and then the Token on stdin (`--token-file -`): no secret on a command line.
printf 'sandbox-secret-0123456789abcdef\ndrillsandbox\n' | "$bin" account add --name "Drill sandbox" \
  --app-id wx5ce0b0a4d0000001 --token-file - --api-base "$sim" >/dev/null
start_server
login
# The dashboard's text, without the markers the server puts between the pieces of a sentence.
banner() { curl -fsS -b "$work/cookies" "http://127.0.0.1:$port/" | sed -e 's/<!>//g; s/<!---->//g'; }
"$bin" campaign add --app-id wx5ce0b0a4d0000001 --name "Drill poster 1" --kind permanent >/dev/null
curl -fsS -X POST "$sim/sim/admin/faults?delay_ms=10000"
started=$SECONDS
if "$bin" campaign add --app-id wx5ce0b0a4d0000001 --name "Drill poster 2" --kind permanent >"$work/cli.out" 2>&1; then
  echo "fault-drill: a campaign was created while WeChat took 10 s" >&2; exit 1
fi
took=$((SECONDS - started))
grep -q "did not answer in time" "$work/cli.out" || { echo "fault-drill: the CLI did not say WeChat timed out:" >&2; cat "$work/cli.out" >&2; exit 1; }
[ "$took" -le 15 ] || { echo "fault-drill: creating a campaign hung for $took s" >&2; exit 1; }
grep -q "微信接口对「Drill sandbox」没有正常响应" <<<"$(banner)" \
  || { echo "fault-drill: the dashboard does not say WeChat is slow" >&2; exit 1; }
log "slow WeChat: refused after $took s, said on the dashboard"
curl -fsS -X POST "$sim/sim/admin/faults?down=true"
started=$SECONDS
if "$bin" campaign add --app-id wx5ce0b0a4d0000001 --name "Drill poster 3" --kind permanent >"$work/cli.out" 2>&1; then
  echo "fault-drill: a campaign was created while WeChat was down" >&2; exit 1
fi
took=$((SECONDS - started))
[ "$took" -le 5 ] || { echo "fault-drill: a down WeChat took $took s to report" >&2; exit 1; }
grep -q "微信接口对「Drill sandbox」没有正常响应" <<<"$(banner)" \
  || { echo "fault-drill: the dashboard does not say WeChat is down" >&2; exit 1; }
stored="$(psql -q -At "$DATABASE_URL" -c "SELECT count(*) FROM campaigns WHERE name LIKE 'Drill poster %'")"
[ "$stored" = 1 ] || { echo "fault-drill: $stored drill campaigns stored (1 expected: none without a code)" >&2; exit 1; }
curl -fsS -X POST "$sim/sim/admin/faults"
"$bin" campaign add --app-id wx5ce0b0a4d0000001 --name "Drill poster 4" --kind permanent >/dev/null
if grep -q "data-testid=\"status-api\"" <<<"$(banner)"; then
  echo "fault-drill: the banner stayed after WeChat recovered" >&2; exit 1
fi
log "OK: a slow or down WeChat is refused in bounded time, said in words, and forgotten once it answers"
