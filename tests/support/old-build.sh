#!/usr/bin/env bash
# Builds the relay (debug) and the extension exactly as they were at an earlier commit, for
# the upgrade e2e test (tests/e2e/upgrade.test.mjs): `old-build.sh [COMMIT]` prints the
# directory holding `latch-relay` and `extension/`. COMMIT defaults to the one that test
# upgrades from: f1a2107, the last before key-bound sessions (issue 22; keyless bindings,
# stored records without a version). An old build never changes, so it is
# kept under ~/.cache/latch/old-builds/COMMIT and made once per machine.
#
# The source comes from git (`git archive`), so a clean clone has it. It builds in its own
# target directory (target/old-build): sharing this checkout's would be wrong, not just
# untidy, because cargo names path crates by their place in the workspace, so the old
# relay found the current latch-wire's artifacts "fresh" and compiled against them.
set -euo pipefail
commit=${1:-f1a2107}
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"
cache="${LATCH_CACHE_DIR:-$HOME/.cache/latch}/old-builds/$commit"
if [ -x "$cache/latch-relay" ] && [ -f "$cache/extension/manifest.json" ]; then
  echo "$cache"
  exit 0
fi

{
  started=$(date +%s)
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  git -C "$root" archive "$commit" | tar -x -C "$src"
  mkdir -p "$cache.partial"
  export CARGO_TARGET_DIR="$root/target/old-build"
  (cd "$src" && cargo build -q -p latch-relay)
  cp "$CARGO_TARGET_DIR/debug/latch-relay" "$cache.partial/latch-relay"
  # Its own build script, with its own wasm output directory (target/wasm in $src).
  (cd "$src" && bash tests/support/build.sh >/dev/null)
  cp -r "$src/dist/extension" "$cache.partial/extension"
  rm -rf "$cache"
  mv "$cache.partial" "$cache"
  rm -rf "$CARGO_TARGET_DIR" # ~1 GB of artifacts nothing reads again
  echo "old-build: $commit built in $(( $(date +%s) - started )) s"
} >&2
echo "$cache"
