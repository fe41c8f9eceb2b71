#!/usr/bin/env bash
# Fuzzes the parsers of what devices send (tests/fuzz: check-in, command channel, Mdm-Signature,
# SCEP PKIOperation, the BER normalizer) with cargo-fuzz + libFuzzer, for a bounded time per target:
#
#   ops/fuzz.sh [seconds-per-target [target...]]     (default: 60 s, every target)
#
# Prints each target's runs, exec/s, coverage and corpus size. Any crash (a panic, a failed
# property, an out-of-memory or a hang) fails the script, after every target has run, naming
# the reproducer: `cargo fuzz run --fuzz-dir tests/fuzz TARGET FILE` replays it.
#
# Stable toolchain only: cargo-fuzz's AddressSanitizer flag (-Zsanitizer=address) is unstable,
# and RUSTC_BOOTSTRAP=1 lets stable rustc accept it; no nightly is installed or needed. ASan is on
# (cargo-fuzz's default): stable's rust-std ships its runtime, and it checks the unsafe code of
# dependencies. ANNAL_FUZZ_SANITIZER=none builds with stable -C flags only.
#
# ANNAL_FUZZ_TARGET_DIR: where the instrumented build goes (default tests/fuzz/target; it
# shares nothing with the normal build). ANNAL_FUZZ_SANITIZER=none: no ASan.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
case $seconds in '' | *[!0-9]*) echo "usage: ops/fuzz.sh [seconds-per-target [target...]]" >&2; exit 2 ;; esac
targets=(checkin command mdm_signature scep_pkioperation ber)
if [ $# -gt 1 ]; then targets=("${@:2}"); fi
sanitizer=${ANNAL_FUZZ_SANITIZER:-address}

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${ANNAL_FUZZ_TARGET_DIR:-$PWD/tests/fuzz/target}
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (crates.io)"
  cargo install cargo-fuzz --locked --version 0.13.2
fi

echo "== building the fuzz targets (sanitizer: $sanitizer)"
nice cargo +stable fuzz build --fuzz-dir tests/fuzz -s "$sanitizer"

# New corpus entries and crash artifacts go to a scratch directory: the committed seeds
# (tests/fuzz/corpus) stay as they are.
work=$(mktemp -d "${TMPDIR:-/tmp}/annal-fuzz.XXXXXX")
failed=()
summary=()
for target in "${targets[@]}"; do
  echo "== fuzzing $target for ${seconds}s"
  mkdir -p "$work/corpus/$target" "$work/artifacts/$target"
  case $target in
    checkin | command) dict=tests/fuzz/dict/plist.dict ;;
    *) dict=tests/fuzz/dict/der.dict ;;
  esac
  log="$work/$target.log"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: 2 GiB is an out-of-memory bug.
  if nice cargo +stable fuzz run --fuzz-dir tests/fuzz -s "$sanitizer" "$target" \
    "$work/corpus/$target" "tests/fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/$target/" -dict="$dict" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$target")
    # The panic message (a failed property names itself), then libFuzzer's report.
    grep -A 3 -m 1 "panicked at" "$log" | cut -c 1-500 || true
    grep -E -A 2 "^(SUMMARY|==[0-9]+==ERROR)" "$log" || tail -n 20 "$log"
  fi
  # libFuzzer's last status line: "#RUNS DONE cov: N ft: N corp: UNITS/SIZE ... exec/s: N ...".
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  runs=$(sed -nE 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  eps=$(sed -nE 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
  summary+=("$(printf '%-18s %-6s runs %-10s exec/s %-7s cov %-6s ft %-7s corpus %s' \
    "$target" "$status" "${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")")
done

echo "== fuzzing summary (${seconds}s per target, sanitizer: $sanitizer)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "ops/fuzz.sh: FAILED: ${failed[*]}" >&2
  for target in "${failed[@]}"; do
    echo "  $target: log $work/$target.log; reproducers:" >&2
    ls -1 "$work/artifacts/$target" | sed "s#^#    $work/artifacts/$target/#" >&2
  done
  echo "  replay: cargo +stable fuzz run --fuzz-dir tests/fuzz TARGET FILE (with RUSTC_BOOTSTRAP=1)" >&2
  exit 1
fi
rm -rf "$work"
