#!/usr/bin/env bash
# Schemathesis (PyPI) against a live relay, for every operation of its /openapi.json: no 5xx,
# every status, media type, header and body as the document says, schema-invalid input
# refused, no auth ignored, undocumented methods refused. Bounded: LATCH_ST_EXAMPLES cases
# per operation (default 25) and LATCH_ST_SECONDS in all (default 100). Fixed seed so a
# failure reproduces; LATCH_ST_SEED=random (or a number) to look further.
#
# The relay is the debug build (`cargo test` made it; LATCH_RELAY_BIN to use another) on a
# fresh SQLite database with a tenant and key, and one binding of another tenant whose
# access token schemathesis uses for the extension's operations (schemathesis.toml).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"

venv="${LATCH_TOOLS_DIR:-$HOME/.cache/latch}/schemathesis-4.32.5"
# Also when a Python upgrade left the venv's interpreter behind.
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1; then
  echo "installing schemathesis 4.32.5 (PyPI) into $venv"
  python3 -m venv --clear "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi

# The current source, unless a binary is named (a no-op when `cargo test` just built it).
if [ -n "${LATCH_RELAY_BIN:-}" ]; then
  relay_bin="$LATCH_RELAY_BIN"
  [ -x "$relay_bin" ] || { echo "LATCH_RELAY_BIN=$relay_bin is not an executable"; exit 1; }
else
  cargo build -q -p latch-relay
  relay_bin=target/debug/latch-relay
fi
# A free port, unless one is named: a relay left over from another run must not answer.
port="${LATCH_ST_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
base="http://127.0.0.1:$port"
work=$(mktemp -d)
db="sqlite://$work/latch.db"
relay_pid=""
cleanup() {
  if [ -n "$relay_pid" ]; then kill "$relay_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "$1"; echo "relay log:"; tail -50 "$work/relay.log" 2>/dev/null || true; exit 1; }

cli() { "$relay_bin" --database "$db" "$@"; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

cli tenant create --name "Acme Inc" --id acme --origin http://localhost:8788 --captures >/dev/null
api_key=$(cli key create --tenant acme --label Acme | json_field '["apiKey"]')
# The access token's binding is another tenant's: schemathesis follows links from
# GET /api/bindings to DELETE /api/bindings/{id} with acme's key, which must not revoke it.
cli tenant create --name "Globex" --id globex --origin http://localhost:8788 --captures >/dev/null
globex_key=$(cli key create --tenant globex --label Globex | json_field '["apiKey"]')

# Limits high enough that the cases reach the handlers (429s are documented and checked
# all the same: the status poll's slow_down still answers a fast poller).
LATCH_LOG=error LATCH_MINT_PER_MINUTE=100000 LATCH_DESCRIBE_PER_MINUTE=100000 LATCH_REDEEM_PER_MINUTE=100000 \
  LATCH_CHALLENGE_REQUESTS_PER_MINUTE=100000 LATCH_APPROVE_PER_MINUTE=100000 LATCH_REFRESH_PER_MINUTE=100000 \
  LATCH_REVOKE_PER_MINUTE=100000 LATCH_STATUS_PER_MINUTE=100000 LATCH_BINDING_CHANGES_PER_MINUTE=100000 \
  LATCH_CAPTURES_PER_BINDING_PER_MINUTE=100000 \
  "$relay_bin" --database "$db" serve --dev --listen "127.0.0.1:$port" --public-url "$base" > "$work/relay.log" 2>&1 &
relay_pid=$!
# Up, then one binding paired the way the extension pairs (mint, redeem), for the token.
access=$(python3 tests/openapi/pair.py "$base" "$globex_key") || fail "could not pair a binding"
kill -0 "$relay_pid" 2>/dev/null || fail "the relay exited at start (another on port $port?)"

seed="${LATCH_ST_SEED:-20261201}"
seed_args=(--seed "$seed")
[ "$seed" = random ] && seed_args=()
started=$(date +%s)
# positive_data_acceptance is left out: it expects every schema-valid request to succeed,
# and most of this API refuses well-formed secrets it never issued (404 token_not_found,
# 401 api_key_invalid) by design. Every other check runs.
LATCH_ST_API_KEY="$api_key" LATCH_ST_ACCESS_TOKEN="$access" "$venv/bin/schemathesis" \
  --config-file tests/openapi/schemathesis.toml run "$base/openapi.json" \
  --checks all --exclude-checks positive_data_acceptance \
  --max-examples "${LATCH_ST_EXAMPLES:-25}" --max-time "${LATCH_ST_SECONDS:-100}" \
  --request-timeout 35 --workers 2 --no-color "${seed_args[@]}" "$@" \
  || fail "schemathesis failed (seed $seed)"
echo "schemathesis: passed in $(( $(date +%s) - started )) s (seed $seed)"
