#!/usr/bin/env bash
# The whole test suite: every test against the embedded SQLite store and the PostgreSQL server,
# plus a build of the KurrentDB backend (and its conformance suite when ANNAL_TEST_KURRENTDB_URL
# names a live server).
#
# PostgreSQL is required, never skipped: set ANNAL_TEST_POSTGRES_URL if it is not at
# postgres://postgres@127.0.0.1:5432/test. Each test makes its own schema there. So is a NATS
# server with JetStream for the NATS sink (ANNAL_TEST_NATS_URL, default nats://127.0.0.1:4222;
# each test makes its own stream), and the nats-server binary for the outage test.
set -euo pipefail
cd "$(dirname "$0")/.."

export ANNAL_TEST_POSTGRES_URL="${ANNAL_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
export ANNAL_TEST_NATS_URL="${ANNAL_TEST_NATS_URL:-nats://127.0.0.1:4222}"

# require NAME URL DEFAULT_PORT VARIABLE: stops unless something listens at URL's host and port.
require() {
  local hostport host port
  hostport=$(printf '%s' "$2" | sed -E 's#^[a-z]+://([^@/]*@)?([^/:?,]+)(:([0-9]+))?.*#\2 \4#')
  read -r host port <<<"$hostport"
  port=${port:-$3}
  if ! timeout 5 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then
    echo "ops/test.sh: FATAL: $1 is not reachable at $host:$port ($2)." >&2
    echo "It must be tested; start the server or set $4." >&2
    exit 1
  fi
  echo "$host:$port"
}
pg_at=$(require PostgreSQL "$ANNAL_TEST_POSTGRES_URL" 5432 ANNAL_TEST_POSTGRES_URL)
nats_at=$(require "NATS (with JetStream)" "$ANNAL_TEST_NATS_URL" 4222 ANNAL_TEST_NATS_URL)

# Third-party clients the tests run against Annal (micromdm's scepclient); a missing one fails
# its test rather than skipping it.
ops/install-test-deps.sh

echo "== cargo test (workspace; SQLite, PostgreSQL at $pg_at, NATS at $nats_at)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee "$log"

echo "== KurrentDB backend (cargo feature kurrentdb)"
if [ -n "${ANNAL_TEST_KURRENTDB_URL:-}" ]; then
  cargo test --features kurrentdb --test store_conformance kurrentdb
else
  cargo build --features kurrentdb
  echo "KurrentDB backend built; its conformance suite needs ANNAL_TEST_KURRENTDB_URL (not run)."
fi

# One closing line with the totals of every test binary above.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
