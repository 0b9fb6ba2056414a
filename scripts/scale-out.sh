#!/usr/bin/env bash
# Scale-out check (BENCHMARKS.md, "Scale-out: three instances on PostgreSQL"): three
# `sceneboard serve` processes (own ports and data dirs, same SCENEBOARD_SECRET_KEY) on one
# fresh PostgreSQL database, a `wechat-sim` as WeChat's API, and then at the same time
#   - the load generator spreading its connections round-robin over the three instances
#     (distinct signed pushes over 300 campaigns, 10 % retries racing or late), and
#   - simulated follows through a campaign that has a WeChat tag (the simulator pushes each
#     `subscribe` to instance A; every one enqueues a tag job that any instance may run),
# right after the simulator revoked the account's access token (a new validity window).
# Checks: nothing lost and nothing doubled (the load generator's database count), exactly one
# token request to the simulator in the window, and one `batchtagging` call per new follower
# (no tag job ran twice, none failed). Prints the figures; exits non-zero on any failure.
#
#   scripts/scale-out.sh [--short] [--debug] [--no-build] [--requests N] [--follows N]
#                        [--connections C] [--retry-share S]
#
# --short: 3 000 requests and 100 follows, under 2 minutes once the binaries exist (CI).
# Default: 20 000 requests and 500 follows. Binaries: release unless --debug.
# Needs PostgreSQL at 127.0.0.1:5432 (trust auth); creates and drops database loadgen_scaleout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. scripts/dev-env.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sceneboard/target}"

profile=release
build=1
requests=20000
follows=500
connections=64
retry_share=0.1
while [ $# -gt 0 ]; do
  case "$1" in
    --short) requests=3000; follows=100 ;;
    --debug) profile=debug ;;
    --no-build) build=0 ;;
    --requests) requests="$2"; shift ;;
    --follows) follows="$2"; shift ;;
    --connections) connections="$2"; shift ;;
    --retry-share) retry_share="$2"; shift ;;
    *) echo "scale-out: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "==> scale-out: $*" >&2; }
started=$(date +%s)

if [ "$build" = 1 ]; then
  flag=""; [ "$profile" = release ] && flag="--release"
  cargo build -q $flag -p server -p loadgen
fi
bin="$CARGO_TARGET_DIR/$profile/sceneboard"
lg="$CARGO_TARGET_DIR/$profile/sceneboard-loadgen"
[ -x "$bin" ] && [ -x "$lg" ] || { echo "scale-out: $bin or $lg missing; build first" >&2; exit 1; }

work="$(mktemp -d)"
pg_admin="postgres://postgres@127.0.0.1:5432/test"
export PGOPTIONS="-c client_min_messages=warning"
db=loadgen_scaleout
app_id="wx5ca1e00000000001"
token="scaleout2026"
secret="sandbox-secret-0123456789abcdef"   # the simulator's sandbox AppSecret
# 4 consecutive free ports below the kernel's ephemeral range (32768+), so no outgoing
# connection holds one by chance.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 1 50); do
  base_port=$((21000 + RANDOM % 11000))
  ok=1; for i in $(seq 0 3); do port_free $((base_port + i)) || ok=0; done
  [ "$ok" = 1 ] && break
done
sim_port=$base_port
ports=($((base_port + 1)) $((base_port + 2)) $((base_port + 3)))
names=(A B C)
sim="http://127.0.0.1:$sim_port"
pids=()
sim_pid=""
export SCENEBOARD_SECRET_KEY="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"

stop() {
  local pid="$1"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  status=$?
  for p in "${pids[@]}"; do stop "$p"; done
  stop "$sim_pid"
  psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  if [ "$status" -ne 0 ]; then
    for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

wait_http() { # wait_http URL PID LOG
  for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.25
  done
  echo "scale-out: $1 did not come up; log:" >&2
  tail -n 30 "$3" >&2
  return 1
}

q() { psql -q -At -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"; }
simstat() { curl -fsS "$sim/sim/stats" | jq -r --arg a "$app_id" ".apps[] | select(.app_id == \$a) | .$1"; }

psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null

# WeChat: the simulator pushes its follows to instance A (any instance would do).
# The Token reaches the simulator and `account add` through the environment, not `ps`.
export SCENEBOARD_ACCOUNT_TOKEN="$token"
RUST_LOG=info "$bin" wechat-sim --addr "127.0.0.1:$sim_port" --app-id "$app_id" \
  --callback "http://127.0.0.1:${ports[0]}/wechat/callback/$app_id" >"$work/sim.log" 2>&1 &
sim_pid=$!
wait_http "$sim/" "$sim_pid" "$work/sim.log"

# The account, 300 campaigns for the load, and one campaign with a WeChat tag.
export SCENEBOARD_DATA_DIR="$work/cli"
"$bin" migrate >/dev/null
echo "$secret" | "$bin" account add --name "Scale-out" --app-id "$app_id" --api-base "$sim" >/dev/null
for n in $(seq 1 300); do echo "Poster $n,$n,permanent"; done >"$work/campaigns.csv"
"$bin" campaign import --app-id "$app_id" "$work/campaigns.csv" >/dev/null 2>"$work/import.log"
tagged=$("$bin" campaign add --app-id "$app_id" --name "Tagged poster" --scene 5000 --kind permanent)
# The CLI has no tag option; the page sets the same column.
q "UPDATE campaigns SET tag_name = 'scale-out' WHERE id = $tagged" >/dev/null
ticket=$(q "SELECT ticket FROM qr_codes WHERE campaign_id = $tagged ORDER BY id DESC LIMIT 1")

for i in 0 1 2; do
  SCENEBOARD_ADDR="127.0.0.1:${ports[$i]}" SCENEBOARD_DATA_DIR="$work/data-${names[$i]}" RUST_LOG="warn,wechat=info" \
    "$bin" serve >"$work/server-${names[$i]}.log" 2>&1 &
  pids+=($!)
done
for i in 0 1 2; do wait_http "http://127.0.0.1:${ports[$i]}/healthz" "${pids[$i]}" "$work/server-${names[$i]}.log"; done
log "three instances up on :${ports[0]} :${ports[1]} :${ports[2]} (database $db)"

# The first tag job creates the WeChat tag; wait for it, so the run measures tagging only.
# (Two instances running the very first jobs at once would both try to create the tag.)
follow() { curl -s -o /dev/null -w "%{http_code}\n" --data-urlencode "ticket=$ticket" -d who=new "$sim/sim/scan"; }
first=$(follow)
for _ in $(seq 1 120); do
  [ -n "$(q "SELECT tag_id FROM campaigns WHERE id = $tagged AND tag_id IS NOT NULL")" ] && break
  sleep 0.25
done
[ -n "$(q "SELECT tag_id FROM campaigns WHERE id = $tagged AND tag_id IS NOT NULL")" ] \
  || { echo "scale-out: the first tag job never ran (the simulated follow answered $first); jobs and follows:" >&2
       q "SELECT id, status, attempts, run_at, locked_by, last_error FROM jobs" >&2
       q "SELECT count(*) FROM events WHERE campaign_id = $tagged" >&2
       grep -v ' issued ' "$work/sim.log" | tail -n 5 >&2; exit 1; }

# A new token window: the simulator revokes the account's tokens, so the next API call of
# whichever instance runs a tag job is refused and one fresh token must serve all three.
curl -fsS -X POST "$sim/sim/admin/invalidate-tokens?appid=$app_id" >/dev/null
tok_req0=$(simstat token_requests); tok_iss0=$(simstat tokens_issued)
tag0=$(simstat tag_calls); tagged0=$(simstat tagged_openids)

log "load: $requests requests over $connections connections on A, B, C; $follows follows through the tagged campaign"
urls=(); for p in "${ports[@]}"; do urls+=(--url "http://127.0.0.1:$p"); done
set +e
"$lg" "${urls[@]}" --app-id "$app_id" --token "$token" --connections "$connections" --requests "$requests" \
  --retry-share "$retry_share" --seed 7 --database-url "$DATABASE_URL" --settle 30 --json "$work/load.json" >"$work/load.txt" 2>"$work/load.log" &
lg_pid=$!
seq 1 "$follows" | xargs -P 4 -I{} curl -s -o /dev/null -w "%{http_code}\n" --data-urlencode "ticket=$ticket" -d who=new "$sim/sim/scan" \
  >"$work/follows.txt"
wait "$lg_pid"
lg_status=$?
set -e
sed 's/^/    /' "$work/load.txt"
[ -f "$work/load.json" ] || { echo "scale-out: the load generator failed ($lg_status)" >&2; cat "$work/load.log" >&2; exit 1; }

# Let the tag jobs drain (each instance polls the queue every 5 s when idle).
for _ in $(seq 1 240); do
  [ "$(q "SELECT count(*) FROM jobs WHERE kind = 'tag_follower' AND status IN ('queued', 'running')")" = 0 ] && break
  sleep 0.25
done

total_follows=$((follows + 1))
follow_ok=$(grep -c '^303$' "$work/follows.txt" || true)
read -r jobs_total jobs_done jobs_failed jobs_retried workers <<<"$(q "SELECT count(*), count(*) FILTER (WHERE status = 'done'),
  count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE attempts > 1), count(DISTINCT locked_by)
  FROM jobs WHERE kind = 'tag_follower'" | tr '|' ' ')"
per_worker=$(q "SELECT string_agg(n::text, ' / ' ORDER BY n DESC) FROM (SELECT count(*) AS n FROM jobs
  WHERE kind = 'tag_follower' GROUP BY locked_by) w")
followers=$(q "SELECT count(DISTINCT openid_hash) FROM subscriptions WHERE campaign_id = $tagged")
tok_req=$(( $(simstat token_requests) - tok_req0 )); tok_iss=$(( $(simstat tokens_issued) - tok_iss0 ))
tag_calls=$(( $(simstat tag_calls) - tag0 )); tag_fail=$(simstat tag_call_failures)
tagged_total=$(simstat tagged_openids); twice=$(simstat openids_tagged_more_than_once)
lost=$(jq .storage.lost "$work/load.json"); lost_ack=$(jq .storage.lost_acknowledged "$work/load.json")
doubled=$(jq .storage.doubled "$work/load.json"); extra=$(jq .storage.extra "$work/load.json")
rps=$(jq '.req_per_s | floor' "$work/load.json"); p50=$(jq .p50_ms "$work/load.json"); p99=$(jq .p99_ms "$work/load.json")
errors=$(jq .errors "$work/load.json")
settle=$(jq '.settle_s * 10 | floor / 10' "$work/load.json")
spooled=""; spool_left=0
for n in "${names[@]}"; do
  spooled+="$n $(grep -c 'database unreachable' "$work/server-$n.log" || true)x ($(grep -c 'deadlock detected' "$work/server-$n.log" || true) deadlocks)  "
  f="$work/data-$n/callback-spool.jsonl"; [ -s "$f" ] && spool_left=$((spool_left + $(wc -l <"$f")))
done
declare -A rss
for i in 0 1 2; do rss[${names[$i]}]=$(( $(awk '/VmHWM/ {print $2}' "/proc/${pids[$i]}/status") / 1024 )); done

echo
echo "scale-out: 3 instances, one PostgreSQL database ($profile binaries, $(nproc) cores shared with the client)"
printf '  %-44s %s\n' \
  "load (round-robin over A, B, C)" "$requests requests, $rps req/s, p50 $p50 ms, p99 $p99 ms, errors $errors" \
  "events lost / doubled / extra" "$lost / $doubled / $extra  (acknowledged but missing: $lost_ack)" \
  "stored count final after the run" "$settle s (spool fallbacks: $spooled; spool lines left $spool_left)" \
  "token requests in the new window" "$tok_req (tokens issued: $tok_iss)" \
  "follows through the tagged campaign" "$total_follows ($follow_ok of the $follows timed ones answered; $followers subscriptions)" \
  "tag jobs: total / done / failed / retried" "$jobs_total / $jobs_done / $jobs_failed / $jobs_retried" \
  "tag jobs run per instance worker" "$per_worker ($workers workers)" \
  "batchtagging calls in the window" "$tag_calls ($tag_fail refused in all; $tagged_total followers tagged, $twice more than once)" \
  "peak RSS A / B / C" "${rss[A]} / ${rss[B]} / ${rss[C]} MiB"
echo "  total time $(( $(date +%s) - started )) s"

fail=0
check() { if ! eval "$1"; then echo "scale-out: FAILED: $2" >&2; fail=1; fi; }
check "[ $lost_ack -eq 0 ]" "$lost_ack acknowledged pushes are missing"
check "[ $spool_left -eq 0 ]" "$spool_left pushes still in the instances' spools"
check "[ $doubled -eq 0 ]" "$doubled pushes were stored twice"
check "[ $extra -eq 0 ]" "$extra events stored that were never sent"
check "[ $tok_req -eq 1 ]" "$tok_req token requests in one validity window (expected 1)"
check "[ $follow_ok -eq $follows ]" "only $follow_ok of $follows simulated follows went through"
check "[ $followers -eq $total_follows ]" "$followers subscriptions for $total_follows follows"
check "[ $jobs_total -eq $total_follows ] && [ $jobs_done -eq $total_follows ]" "$jobs_done of $jobs_total tag jobs done (expected $total_follows)"
check "[ $tag_calls -eq $follows ]" "$tag_calls batchtagging calls for $follows follows"
check "[ $jobs_retried -eq 0 ] && [ $jobs_failed -eq 0 ]" "$jobs_retried tag jobs ran more than once, $jobs_failed failed"
check "[ $tagged_total -eq $total_follows ] && [ $twice -eq 0 ] && [ $tag_fail -eq 0 ]" \
  "$tagged_total followers tagged for $total_follows follows ($twice twice, $tag_fail calls refused)"
check "[ $lg_status -eq 0 ]" "the load generator exited with $lg_status"
[ "$fail" -eq 0 ] && echo "scale-out: OK: nothing lost, nothing doubled, one token per window, each job once"
exit "$fail"
