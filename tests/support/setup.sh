#!/usr/bin/env bash
# Installs whatever is missing for building and testing Latch. Idempotent: each step checks
# first. Everything comes from the package registries (crates.io, Debian, npm); nothing is
# downloaded from anywhere else (wasm-pack's own downloads are avoided, see PLATFORM-NOTES).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! command -v wasm-pack >/dev/null; then
  say "installing wasm-pack"
  cargo install wasm-pack --locked
fi

# wasm-bindgen-cli must be exactly the wasm-bindgen crate version in Cargo.lock.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  say "installing wasm-bindgen-cli $want (found: ${have:-none})"
  cargo install --locked wasm-bindgen-cli --version "$want" --force
fi

apt_updated=
apt_install() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
if [ ! -x /usr/bin/chromium ]; then
  say "installing Debian chromium"
  apt_install chromium
fi

# The JS boundary tests (src/shell/tests.rs) drive headless Chromium through chromedriver
# (wasm-pack test; webdriver.json names the browser).
if [ ! -x /usr/bin/chromedriver ]; then
  say "installing Debian chromium-driver"
  apt_install chromium-driver
fi

# libfaketime runs the relay with a skewed wall clock in the clock-skew e2e test.
if ! command -v faketime >/dev/null; then
  say "installing Debian faketime"
  apt_install faketime
fi

# The relay's suite also runs on a throwaway PostgreSQL server (tests/support/with-postgres.sh).
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  say "installing Debian postgresql"
  apt_install postgresql
fi

# The scaffold e2e test runs the generated Flask app in a venv (Flask from PyPI), and
# tests/openapi/run.sh schemathesis in one.
# (`venv --help` works without ensurepip, which Debian ships apart in python3-venv.)
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  say "installing Debian python3-venv"
  apt_install python3 python3-venv
fi

if [ ! -f node_modules/playwright-core/package.json ] || [ ! -f node_modules/axe-core/package.json ]; then
  say "installing npm packages"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi
