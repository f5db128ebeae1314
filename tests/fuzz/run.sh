#!/usr/bin/env bash
# Coverage-guided fuzzing of the core with cargo fuzz (libFuzzer).
#
#   bash tests/fuzz/run.sh [SECONDS] [TARGET...]     # default: 10 s for every target
#   LATCH_FUZZ_GROW=1 bash tests/fuzz/run.sh 600     # long local run that adds finds to the corpus
#
# Each target starts from the committed corpus, packed in tests/fuzz/corpus.tar.gz (one file
# instead of thousands) and unpacked into tests/fuzz/corpus/TARGET (not tracked). New inputs
# go to a scratch directory unless LATCH_FUZZ_GROW=1: then they go into the corpus, which is
# packed again at the end (minimise with `cargo fuzz cmin` first). A crash stops the run, leaves the input under target/fuzz-artifacts/TARGET/
# and fails the script. Works on the stable toolchain: RUSTC_BOOTSTRAP lets cargo-fuzz pass
# its -Z flags, and no sanitizer is needed for code that forbids `unsafe`.
set -euo pipefail
cd "$(dirname "$0")/../.."
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

# The corpus, unpacked once (again when the archive is newer than the unpacked copy).
archive=tests/fuzz/corpus.tar.gz
if [ ! -d tests/fuzz/corpus ] || [ "$archive" -nt tests/fuzz/corpus ]; then
  rm -rf tests/fuzz/corpus
  tar -xzf "$archive" -C tests/fuzz
  touch tests/fuzz/corpus
fi

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
if [ -n "${LATCH_FUZZ_GROW:-}" ]; then
  # Byte-identical for identical corpora: sorted names, no times or owners.
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - -C tests/fuzz corpus | gzip -9n >"$archive"
  touch tests/fuzz/corpus
  echo "fuzz: corpus packed into $archive ($(find tests/fuzz/corpus -type f | wc -l) inputs)"
fi
echo "fuzz: summary (no crash)"
printf '  %s\n' "${summary[@]}"
