#!/usr/bin/env bash
# Builds the extension: two wasm-pack builds of the one crate (the worker never links
# Leptos), optional wasm-opt (LATCH_WASM_OPT=1), then dist/extension/ and the zip.
# The connect origin comes from LATCH_CONNECT_ORIGIN (default http://localhost:8787),
# read by build.rs for both the manifest and the background's origin check.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
root=$PWD
wasm_out=$root/target/wasm
dist=$root/dist/extension

for part in background panel; do
  echo "build: wasm-pack ($part)"
  wasm-pack --quiet build --release --target web --no-typescript --no-pack \
    --out-dir "$wasm_out/$part" --out-name "$part" "$root" \
    -- --no-default-features --features "$part"
  wasm="$wasm_out/$part/${part}_bg.wasm"
  # Off by default. Debian bookworm's binaryen 108 breaks wasm-bindgen's externref table
  # ("WebAssembly.Table.grow(): failed to grow table"); npm's binaryen 132 doesn't, but its
  # -Oz output is 9-11 % smaller raw and 4-10 % larger gzipped (BENCHMARKS.md, issue 19).
  # LATCH_WASM_OPT=1 to try it; LATCH_WASM_OPT_BIN picks the binary, e.g.
  # `npm install --no-save binaryen@132` then LATCH_WASM_OPT_BIN=node_modules/.bin/wasm-opt.
  wasm_opt=${LATCH_WASM_OPT_BIN:-wasm-opt}
  if [ -n "${LATCH_WASM_OPT:-}" ] && command -v "$wasm_opt" >/dev/null; then
    if "$wasm_opt" -Oz --strip-debug --strip-producers \
      --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-reference-types --enable-multivalue \
      -o "$wasm.opt" "$wasm" 2>/tmp/latch-wasm-opt.log; then
      mv "$wasm.opt" "$wasm"
    else
      echo "build: wasm-opt failed for $part (kept unoptimised): $(head -c 300 /tmp/latch-wasm-opt.log)"
    fi
  fi
done

rm -rf "$dist"
mkdir -p "$dist/pkg"
cp -r extension/. "$dist/"
cp target/generated/manifest.json "$dist/manifest.json"
for part in background panel; do
  cp "$wasm_out/$part/$part.js" "$wasm_out/$part/${part}_bg.wasm" "$dist/pkg/"
done

python3 - "$dist" "$root/dist/latch-extension.zip" <<'PY'
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for base, dirs, files in sorted(os.walk(src)):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(base, f)
            info = zipfile.ZipInfo(os.path.relpath(p, src), date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(p, "rb") as fh:
                z.writestr(info, fh.read())
PY

echo "build: sizes (raw / gzip bytes)"
for f in "$dist"/pkg/* "$root/dist/latch-extension.zip"; do
  printf '  %-28s %8d / %8d\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(gzip -9c "$f" | wc -c)"
done
echo "build: unpacked extension at $dist"
