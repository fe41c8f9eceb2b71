#!/usr/bin/env bash
# The whole test suite: every test against the embedded SQLite store and the PostgreSQL server,
# plus a build of the KurrentDB backend (and its conformance suite when ANNAL_TEST_KURRENTDB_URL
# names a live server).
#
# PostgreSQL is required, never skipped: set ANNAL_TEST_POSTGRES_URL if it is not at
# postgres://postgres@127.0.0.1:5432/test. Each test makes its own schema there.
set -euo pipefail
cd "$(dirname "$0")/.."

export ANNAL_TEST_POSTGRES_URL="${ANNAL_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

hostport=$(printf '%s' "$ANNAL_TEST_POSTGRES_URL" | sed -E 's#^[a-z]+://([^@/]*@)?([^/:?]+)(:([0-9]+))?.*#\2 \4#')
read -r pg_host pg_port <<<"$hostport"
pg_port=${pg_port:-5432}
if ! timeout 5 bash -c "exec 3<>/dev/tcp/$pg_host/$pg_port" 2>/dev/null; then
  echo "ops/test.sh: FATAL: PostgreSQL is not reachable at $pg_host:$pg_port ($ANNAL_TEST_POSTGRES_URL)." >&2
  echo "The PostgreSQL backend must be tested; start the server or set ANNAL_TEST_POSTGRES_URL." >&2
  exit 1
fi

# Third-party clients the tests run against Annal (micromdm's scepclient); a missing one fails
# its test rather than skipping it.
ops/install-test-deps.sh

echo "== cargo test (workspace; SQLite and PostgreSQL at $pg_host:$pg_port)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --all-targets 2>&1 | tee "$log"

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
