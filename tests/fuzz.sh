#!/usr/bin/env bash
# Coverage-guided fuzzing of the core with cargo fuzz (libFuzzer).
#
#   bash tests/fuzz.sh [SECONDS] [TARGET...]     # default: 10 s for every target
#   LATCH_FUZZ_GROW=1 bash tests/fuzz.sh 600     # long local run that adds finds to the corpus
#
# Each target starts from its committed corpus (tests/fuzz/corpus/TARGET). New inputs go to
# a scratch directory unless LATCH_FUZZ_GROW=1 (then minimise with `cargo fuzz cmin` before
# committing). A crash stops the run, leaves the input under target/fuzz-artifacts/TARGET/
# and fails the script. Works on the stable toolchain: RUSTC_BOOTSTRAP lets cargo-fuzz pass
# its -Z flags, and no sanitizer is needed for code that forbids `unsafe`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
seconds=${1:-10}
shift || true
all=(external_message tokens_and_codes name_policy challenge offers)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi

if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
# Default build: optimised, with debug assertions and overflow checks (an overflow is a find).
fuzz=(cargo fuzz run --fuzz-dir tests/fuzz --sanitizer none)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Build every target once up front, so SECONDS is fuzzing time only.
cargo fuzz build --fuzz-dir tests/fuzz --sanitizer none

summary=()
for t in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/$t
  mkdir -p "$corpus" "target/fuzz-artifacts/$t"
  if [ -n "${LATCH_FUZZ_GROW:-}" ]; then dirs=("$corpus"); else dirs=("$scratch/$t" "$corpus"); mkdir -p "$scratch/$t"; fi
  echo "fuzz: $t for ${seconds}s"
  log=$scratch/$t.log
  if ! "${fuzz[@]}" "$t" "${dirs[@]}" -- -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="target/fuzz-artifacts/$t/" >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $t FAILED; the input is under target/fuzz-artifacts/$t/"
    exit 1
  fi
  runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  summary+=("$(printf '%-18s %12s execs %6s s  cov %s  corpus %s' "$t" "${runs:-?}" "$seconds" "${cov:-?}" "$(ls "$corpus" | wc -l)")")
  echo "fuzz: ${summary[-1]}"
done
echo "fuzz: summary (no crash)"
printf '  %s\n' "${summary[@]}"
