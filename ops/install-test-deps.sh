#!/usr/bin/env bash
# Installs the third-party programs the test suite runs against Annal: Debian's `scep` package
# (micromdm's scepclient, for tests/scep_interop.rs), the openssl CLI (push certificates,
# .p12 exports and CMS checks in the tests), and what the documents' walk-throughs call
# (tests/walkthroughs.rs): curl, jq and psql. Idempotent and quiet when everything is
# already there; uses sudo only when not root.
set -euo pipefail

missing=()
command -v scepclient >/dev/null 2>&1 || missing+=(scep)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "ops/install-test-deps.sh: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi

echo "ops/install-test-deps.sh: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for program in scepclient openssl curl jq psql; do
  command -v "$program" >/dev/null 2>&1 || {
    echo "ops/install-test-deps.sh: $program is still missing after installing ${missing[*]}" >&2
    exit 1
  }
done
