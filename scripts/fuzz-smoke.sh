#!/usr/bin/env bash
# A short fuzz run for CI: every fuzz target of the `wechat` crate (fuzz/fuzz_targets: XML
# parser, decryptor, signature checks) runs for FUZZ_SECONDS (20) over its committed corpus
# (fuzz/corpus/T) and seeds (fuzz/seeds/T). Fails on any crash, panic, failed assertion,
# timeout (> 10 s on one input) or out-of-memory; the offending input is printed (base64) and
# kept under fuzz/artifacts/T/. New inputs found go to a temporary directory, so the checkout
# stays clean. Long runs and figures: BENCHMARKS.md ("Fuzzing").
#
# Needs the nightly toolchain (skipped with a message, exit 0, when it is absent); installs
# cargo-fuzz when it is missing. Builds into FUZZ_TARGET_DIR (default fuzz/target/nosan), never the
# main CARGO_TARGET_DIR: the fuzz build uses its own RUSTFLAGS (sanitizer coverage), which
# would otherwise invalidate the main build's cache.
#
# Environment: FUZZ_SECONDS (default 20 per target), FUZZ_TARGETS (default: all),
# FUZZ_SANITIZER (default none: the crate is safe Rust and this runs 3-13x more inputs than
# ASan; `address` also works), FUZZ_TARGET_DIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
# The main build's flags (scripts/dev-env.sh, .ci/run) must not leak into the fuzz build.
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_TARGET_DIR

seconds="${FUZZ_SECONDS:-20}"
sanitizer="${FUZZ_SANITIZER:-none}"
# Same directories as the manual commands in BENCHMARKS.md, so either warms the other.
if [ "$sanitizer" = none ]; then default_dir="$root/fuzz/target/nosan"; else default_dir="$root/fuzz/target"; fi
target_dir="${FUZZ_TARGET_DIR:-$default_dir}"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz-smoke: no nightly toolchain (rustup toolchain install nightly); skipped"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd "$root/fuzz"
targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
echo "==> fuzz smoke: $(cargo fuzz --version), $(cargo +nightly --version), sanitizer $sanitizer, ${seconds}s per target"
echo "    targets: $(echo $targets)"
echo "    build dir: $target_dir"

build_start=$(date +%s)
cargo +nightly fuzz build -s "$sanitizer" --target-dir "$target_dir"
echo "==> built in $(( $(date +%s) - build_start )) s"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for t in $targets; do
  mkdir -p "$work/$t" "artifacts/$t"
  dirs=()
  for d in "corpus/$t" "seeds/$t"; do [ -d "$d" ] && dirs+=("$d"); done
  echo "==> $t: ${seconds}s over ${dirs[*]}"
  log="$work/$t.log"
  set +e
  cargo +nightly fuzz run -s "$sanitizer" --target-dir "$target_dir" "$t" "$work/$t" "${dirs[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -dict=xml.dict \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1 || true)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1 || true)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n1 || true)
  if [ "$rc" -eq 0 ]; then
    echo "    ok: ${runs:-?} runs, ${rate:-?} exec/s, $cov"
  else
    failed+=("$t")
    echo "    FAILED (exit $rc):"
    grep -E -A6 'panicked at|ERROR: libFuzzer|==[0-9]+==ERROR|SUMMARY:' "$log" | head -n 40 | sed 's/^/    | /' || true
    for a in $(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log"); do
      echo "    input $a (base64): $(base64 -w0 "$a")"
      echo "    reproduce: cd fuzz && cargo +nightly fuzz run -s $sanitizer --target-dir $target_dir $t $a"
    done
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz-smoke: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz-smoke: all targets passed"
