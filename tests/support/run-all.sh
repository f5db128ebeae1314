#!/usr/bin/env bash
# `npm test`: installs what is missing, then runs every check and test:
# format, clippy (native + both wasm builds), Rust unit/property/integration tests, the JS
# boundary tests in headless Chromium, a short run of every fuzz target, the wasm build of
# the extension and its size budgets, and the real-Chromium end-to-end suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
started=$(date +%s)
# Each step's header tells the disk left too: a full disk shows up as a linker's SIGBUS.
step() {
  printf '\n\033[1m== %s (%ss, %s free)\033[0m\n' "$*" "$(( $(date +%s) - started ))" \
    "$(df -h --output=avail . | tail -1 | tr -d ' ')"
}
# Drops a side build's target directory after its step when LATCH_PRUNE_TARGETS=1 (.ci/run):
# nothing later reads it, and CI's clean clone builds it again next time anyway.
prune() { if [ "${LATCH_PRUNE_TARGETS:-}" = 1 ]; then rm -rf "$@"; fi; }

step "setup"
bash tests/support/setup.sh

step "cargo fmt --check"
cargo fmt --all --check
cargo fmt --manifest-path tests/fuzz/Cargo.toml --check
cargo fmt --manifest-path tests/bench/relay-load/Cargo.toml --check

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
for part in background panel; do
  cargo clippy --lib --target wasm32-unknown-unknown --no-default-features --features "$part" -- -D warnings
done

step "cargo test (core + relay)"
cargo test --workspace

step "wasm boundary tests (Chromium)"
# src/shell/tests.rs: what to_js/from_js (serde-wasm-bindgen) accept and refuse, against
# serde_json, in headless Chromium. Built once, for the worker: the panel calls the same
# two functions. Linted first, as no other step builds these tests for wasm.
cargo clippy --lib --tests --target wasm32-unknown-unknown --no-default-features --features background -- -D warnings
boundary_log=$(mktemp)
CHROMEDRIVER=/usr/bin/chromedriver wasm-pack test --headless --chrome --lib --no-default-features --features background 2>&1 | tee "$boundary_log"
echo "wasm boundary tests: $(grep -o '[0-9]* passed' "$boundary_log" | tail -1)"
rm -f "$boundary_log"

step "relay tests on PostgreSQL (throwaway server)"
bash tests/support/with-postgres.sh cargo test -p latch-relay

step "schemathesis against a live relay (OpenAPI document, every operation, <= 100 s)"
bash tests/openapi/run.sh

step "fuzz (10 s per target, committed corpus)"
bash tests/fuzz/run.sh 10
prune tests/fuzz/target

step "build the extension"
# The e2e suite and the load smoke run the relay's debug build, which `cargo test` made
# above: the same code, and a release build only for them was ~7 of CI's minutes (fat LTO,
# one codegen unit). Timings in BENCHMARKS.md come from release builds (tests/bench,
# tests/bench/relay-load.sh without LATCH_BENCH_PROFILE=dev).
bash tests/support/build.sh

step "extension size budgets"
node tests/support/size-budget.mjs

step "relay load benchmark, smoke (1 s phases; full run: tests/bench/relay-load.sh)"
LATCH_BENCH_SECONDS=1 LATCH_BENCH_SOCKETS=200 LATCH_BENCH_LIMITER_KEYS=10000 LATCH_BENCH_PROFILE=dev bash tests/bench/relay-load.sh
prune tests/bench/relay-load/target

step "the build before key-bound sessions, for the upgrade e2e test (cached per machine)"
# ~260 s the first time on 2 cores (its own target directory), nothing after: an old build
# never changes. tests/e2e/upgrade.test.mjs runs the same script (then a cache hit).
bash tests/support/old-build.sh >/dev/null

step "end-to-end (Chromium)"
npm run e2e

step "all passed"
du -sh target tests/fuzz/target tests/bench/relay-load/target 2>/dev/null || true
