#!/usr/bin/env bash
# Relay load benchmark (issue 7): builds the release relay and the load generator
# (tests/bench/relay-load), then measures SQLite and, beside a throwaway PostgreSQL server,
# PostgreSQL. Prints the Markdown table kept in BENCHMARKS.md.
#   bash tests/bench/relay-load.sh                     # 5 s per phase, 10,000 sockets
#   LATCH_BENCH_SECONDS=1 LATCH_BENCH_SOCKETS=200 LATCH_BENCH_LIMITER_KEYS=10000 LATCH_BENCH_PROFILE=dev bash tests/bench/relay-load.sh   # smoke
# LATCH_BENCH_PROFILE=dev builds the load generator unoptimised and runs the relay's debug
# build: enough to prove the harness runs (npm test's smoke), minutes faster on 2 cores than
# release builds of both; measured numbers come from the default, release.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
profile=${LATCH_BENCH_PROFILE:-release}
if [ "$profile" = dev ]; then
  # The smoke proves the harness runs; the relay's debug build (npm test's cargo test made
  # it) spares the smoke a release build of its own (~7 min of CI on 2 cores).
  cargo build -q -p latch-relay
  export LATCH_RELAY_BIN="$PWD/target/debug/latch-relay"
else
  cargo build --release -q -p latch-relay
fi
cargo build -q --profile "$profile" --manifest-path tests/bench/relay-load/Cargo.toml --bins
out=$([ "$profile" = dev ] && echo debug || echo "$profile")
# 10,000 sockets need 10,000 descriptors in the relay and in the generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
bash tests/support/with-postgres.sh "tests/bench/relay-load/target/$out/relay-load"
# The rate limiter's cost per check from 1,000 to 1,000,000 tracked keys (issue 18).
"tests/bench/relay-load/target/$out/limiter-cost"
