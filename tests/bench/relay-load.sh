#!/usr/bin/env bash
# Relay load benchmark (issue 7): builds the release relay and the load generator
# (tests/relay-load), then measures SQLite and, beside a throwaway PostgreSQL server,
# PostgreSQL. Prints the Markdown table kept in BENCHMARKS.md.
#   bash tests/bench/relay-load.sh                     # 5 s per phase, 10,000 sockets
#   LATCH_BENCH_SECONDS=1 LATCH_BENCH_SOCKETS=200 bash tests/bench/relay-load.sh   # smoke
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q -p latch-relay
cargo build --release -q --manifest-path tests/relay-load/Cargo.toml
# 10,000 sockets need 10,000 descriptors in the relay and in the generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
bash tests/with-postgres.sh tests/relay-load/target/release/relay-load
