#!/usr/bin/env bash
# Ingest ceiling of the WeChat callback, measured with the load generator (BENCHMARKS.md,
# "Ingest ceiling (load generator)").
#
# For SQLite and for PostgreSQL, on a fresh data dir / database each time: adds an account
# (plaintext mode, known Token) and 300 campaigns (codes issued by a local `wechat-sim`),
# starts `sceneboard-bench serve` (the benchmark build of `sceneboard`) four ways — SCENEBOARD_BENCH_CALLBACK=noop (answer at once),
# =verify (account lookup + signature + parse, nothing stored), =commit (durable storage, every
# request waiting for its batch's commit: bursts not journaled) and normal (durable storage as
# shipped: a burst is journaled in the spool and imported behind) — and drives each with
# `sceneboard-loadgen` (64 connections, 20 000 requests, 10 % retries), after a 2 000-request
# warm-up. Prints one table: req/s, p50, p99, errors, lost, doubled, ingest as % of the
# parse+verify ceiling, how long after the run the database held every push, the pushes per
# second that reached the database (run plus that wait), and the server's peak RSS (VmHWM).
#
#   scripts/bench-ingest.sh [--debug] [--no-build] [--requests N] [--connections C]
#                           [--backends "sqlite postgres"] [--safe] [--pg-socket DIR]
#                           [--perf DIR] [--modes "noop verify commit normal"] [--settle S]
#
# --debug uses debug binaries (much slower server: the figures are not the ceiling);
# --safe sends AES safe-mode pushes to a safe-mode account; --pg-socket /var/run/postgresql
# connects the server to PostgreSQL through its Unix socket instead of TCP; --perf DIR records
# the server (on PostgreSQL: the whole machine) with `perf record -g` during each durable run
# (DIR/perf-BACKEND.data; read it with `perf report -i …`; PERF_RECORD_ARGS replaces the
# default `-F 499 -g`, e.g. "-F 1999 --call-graph dwarf,32768" for callers in a release
# build, which has no frame pointers). Client and server share the
# machine's cores, so the figures are a floor of what the server alone could do.
# Needs PostgreSQL at 127.0.0.1:5432 (trust auth); creates and drops loadgen_bench_* databases.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. scripts/dev-env.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sceneboard/target}"

profile=release
build=1
requests=20000
connections=64
backends="sqlite postgres"
modes="noop verify commit normal"
settle=60
safe=0
pg_query=""
perf_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --debug) profile=debug ;;
    --no-build) build=0 ;;
    --requests) requests="$2"; shift ;;
    --connections) connections="$2"; shift ;;
    --backends) backends="$2"; shift ;;
    --modes) modes="$2"; shift ;;
    --settle) settle="$2"; shift ;;
    --safe) safe=1 ;;
    --pg-socket) pg_query="?host=$2"; shift ;;
    --perf) perf_dir="$(mkdir -p "$2" && cd "$2" && pwd)"; shift ;;
    *) echo "bench-ingest: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "==> bench-ingest: $*" >&2; }

if [ "$build" = 1 ]; then
  flag=""; [ "$profile" = release ] && flag="--release"
  t0=$(date +%s)
  log "cargo build $flag of sceneboard-bench and the load generator (a cold release build takes long on 2 cores)"
  # The benchmark modes live only in the sceneboard-bench binary (feature bench-modes).
  cargo build $flag -p server -p loadgen --features server/bench-modes --bin sceneboard-bench --bin sceneboard-loadgen
  log "build took $(( $(date +%s) - t0 )) s"
fi
bin="$CARGO_TARGET_DIR/$profile/sceneboard-bench"
lg="$CARGO_TARGET_DIR/$profile/sceneboard-loadgen"
[ -x "$bin" ] && [ -x "$lg" ] || { echo "bench-ingest: $bin or $lg missing; build first" >&2; exit 1; }

work="$(mktemp -d)"
pg_admin="postgres://postgres@127.0.0.1:5432/test"
export PGOPTIONS="-c client_min_messages=warning"
app_id="wxbe00000000000001"
token="benchtoken2026"
secret="sandbox-secret-0123456789abcdef"   # the simulator's sandbox AppSecret
aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFH"
# 2 consecutive free ports below the kernel's ephemeral range (32768+), so no outgoing
# connection holds one by chance.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 1 50); do
  base_port=$((21000 + RANDOM % 11000))
  ok=1; for i in $(seq 0 1); do port_free $((base_port + i)) || ok=0; done
  [ "$ok" = 1 ] && break
done
sim_port=$base_port
port=$((base_port + 1))
sim_pid=""
server_pid=""
export SCENEBOARD_SECRET_KEY="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"

stop() { # stop PID: SIGTERM, then wait for it
  local pid="$1"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  status=$?
  stop "$server_pid"
  stop "$sim_pid"
  for m in noop verify commit normal; do
    psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS loadgen_bench_$m WITH (FORCE)" >/dev/null 2>&1 || true
  done
  if [ "$status" -ne 0 ]; then
    for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# CPU ticks (1/100 s) used so far by PID, and by all PostgreSQL processes together.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pg_ticks() {
  local t=0 f
  for f in /proc/[0-9]*/stat; do
    read -r line <"$f" 2>/dev/null || continue
    case "$line" in *"(postgres)"*) t=$((t + $(echo "$line" | awk '{print $14 + $15}'))) ;; esac
  done
  echo "$t"
}

wait_http() { # wait_http URL PID LOG
  for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.25
  done
  echo "bench-ingest: $1 did not come up; log:" >&2
  tail -n 30 "$3" >&2
  return 1
}

# The simulator issues the campaigns' codes (the callback itself never calls WeChat).
"$bin" wechat-sim --addr "127.0.0.1:$sim_port" --app-id "$app_id" >"$work/sim.log" 2>&1 &
sim_pid=$!
wait_http "http://127.0.0.1:$sim_port/" "$sim_pid" "$work/sim.log"
for n in $(seq 1 300); do echo "Poster $n,$n,permanent"; done >"$work/campaigns.csv"

mode_flags=(); lg_flags=()
if [ "$safe" = 1 ]; then
  mode_flags=(--mode safe); lg_flags=(--aes-key "$aes_key")
  export SCENEBOARD_ACCOUNT_AES_KEY="$aes_key"
fi

# fresh BACKEND MODE: a new database with the account and its campaigns; sets DATABASE_URL.
fresh() {
  local backend="$1" mode="$2"
  export SCENEBOARD_DATA_DIR="$work/$backend-$mode"
  rm -rf "$SCENEBOARD_DATA_DIR"; mkdir -p "$SCENEBOARD_DATA_DIR"
  if [ "$backend" = sqlite ]; then
    export DATABASE_URL="sqlite://$SCENEBOARD_DATA_DIR/sceneboard.db?mode=rwc"
  else
    psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS loadgen_bench_$mode WITH (FORCE)" -c "CREATE DATABASE loadgen_bench_$mode" >/dev/null
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/loadgen_bench_$mode${pg_query}"
  fi
  # The Token and key through the environment (SCENEBOARD_ACCOUNT_*), never on a command line.
  echo "$secret" | SCENEBOARD_ACCOUNT_TOKEN="$token" "$bin" account add --name Bench --app-id "$app_id" \
    --api-base "http://127.0.0.1:$sim_port" "${mode_flags[@]}" >/dev/null
  "$bin" campaign import --app-id "$app_id" "$work/campaigns.csv" >/dev/null 2>"$work/import.log"
}

results="$work/results.tsv"
for backend in $backends; do
  for mode in $modes; do
    fresh "$backend" "$mode"
    bench=""; [ "$mode" != normal ] && bench="$mode"
    SCENEBOARD_BENCH_CALLBACK="$bench" SCENEBOARD_ADDR="127.0.0.1:$port" RUST_LOG=warn \
      "$bin" serve >"$work/server-$backend-$mode.log" 2>&1 &
    server_pid=$!
    wait_http "http://127.0.0.1:$port/healthz" "$server_pid" "$work/server-$backend-$mode.log"
    url="http://127.0.0.1:$port"
    # Warm-up (pools, caches), in a CreateTime window of its own.
    "$lg" --url "$url" --app-id "$app_id" --token "$token" "${lg_flags[@]}" --connections "$connections" \
      --requests 2000 --seed 99 --time-base $(( $(date +%s) - 40 * 86400 )) >/dev/null 2>&1 || true
    db_flags=(); case "$mode" in normal | commit) db_flags=(--database-url "$DATABASE_URL" --settle "$settle") ;; esac
    log "$backend / $mode: $requests requests over $connections connections"
    srv0=$(ticks "$server_pid"); pg0=$(pg_ticks)
    perf_pid=""
    if [ -n "$perf_dir" ] && [ "$mode" != noop ] && [ "$mode" != verify ]; then
      # The server alone on SQLite; the whole machine on PostgreSQL (its backends too).
      target=(-p "$server_pid"); [ "$backend" = postgres ] && target=(-a)
      perf record -q ${PERF_RECORD_ARGS:--F 499 -g} "${target[@]}" -o "$perf_dir/perf-$backend-$mode.data" 2>"$perf_dir/perf-$backend-$mode.log" &
      perf_pid=$!
    fi
    set +e
    "$lg" --url "$url" --app-id "$app_id" --token "$token" "${lg_flags[@]}" --connections "$connections" \
      --requests "$requests" --seed 1 "${db_flags[@]}" --json "$work/$backend-$mode.json" >"$work/loadgen-$backend-$mode.txt" 2>&1
    lg_status=$?
    [ -n "$perf_pid" ] && { kill -INT "$perf_pid"; wait "$perf_pid"; }
    set -e
    sed 's/^/    /' "$work/loadgen-$backend-$mode.txt" >&2
    [ -f "$work/$backend-$mode.json" ] || { echo "bench-ingest: the load generator failed ($lg_status)" >&2; exit 1; }
    srv_us=$(( ($(ticks "$server_pid") - srv0) * 10000 / requests ))
    pg_us=$(( ($(pg_ticks) - pg0) * 10000 / requests ))
    [ "$backend" = postgres ] || pg_us="-"
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
    stop "$server_pid"; server_pid=""
    jq -r --arg b "$backend" --arg m "$mode" --arg hwm "$hwm" --arg srv "$srv_us" --arg pg "$pg_us" \
      '[$b, $m, .req_per_s, .p50_ms, .p99_ms, .errors, (.storage.lost // "-"), (.storage.doubled // "-"), $hwm, (.storage.lost_acknowledged // 0), (.storage.extra // 0), $srv, $pg, (if .storage then .settle_s else -1 end), (.requests / (.elapsed_s + .settle_s))] | @tsv' \
      "$work/$backend-$mode.json" >>"$results"
  done
done

# The table: ingest (normal) as a share of the parse+verify ceiling of the same backend.
echo
printf '%-9s %-7s %9s %9s %9s %7s %6s %8s %10s %9s %9s %10s %11s %10s\n' backend mode "req/s" "p50 ms" "p99 ms" errors lost doubled "% verify" \
  "in DB +s" "to DB/s" "peak RSS" "server CPU" "PG CPU"
awk -F'\t' '
  { rows[NR] = $0; if ($2 == "verify") ceil[$1] = $3 }
  END {
    for (i = 1; i <= NR; i++) {
      split(rows[i], f, "\t")
      pct = (ceil[f[1]] > 0) ? sprintf("%.0f %%", 100 * f[3] / ceil[f[1]]) : "-"
      settled = (f[14] >= 0) ? sprintf("%.1f", f[14]) : "-"
      todb = (f[14] >= 0) ? sprintf("%.0f", f[15]) : "-"
      printf "%-9s %-7s %9.0f %9.2f %9.2f %7d %6s %8s %10s %9s %9s %7.0f MiB %7s µs/r %5s µs/r\n", f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], pct, settled, todb, f[9] / 1024, f[12], f[13]
    }
  }' "$results"
echo
echo "(in DB +s: seconds after the run until every acknowledged push was in the database; to DB/s: requests"
echo " over the run plus that wait. server CPU and PG CPU: CPU time per request of the server process and of"
echo " all PostgreSQL processes during the run and that wait, from /proc; $profile binaries; $(nproc) cores shared by client and server; $requests requests, $connections connections, 10 % retries; $([ "$safe" = 1 ] && echo 'AES safe mode' || echo plaintext))"
# Fail if the durable runs lost or doubled anything.
awk -F'\t' '($2 == "normal" || $2 == "commit") && ($10 != 0 || $8 != 0 || $11 != 0) { bad = 1 } END { exit bad }' "$results" \
  || { echo "bench-ingest: lost or doubled events (see above)" >&2; exit 1; }
