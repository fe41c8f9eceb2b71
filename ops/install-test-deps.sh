#!/usr/bin/env bash
# Installs the third-party programs the test suite runs against Annal: Debian's `scep` package
# (micromdm's scepclient, for tests/scep_interop.rs), the openssl CLI (push certificates,
# .p12 exports and CMS checks in the tests), and what the documents' walk-throughs call
# (tests/walkthroughs.rs): curl, jq and psql; and schemathesis from PyPI, the API conformance
# tester tests/api_conformance.rs runs against both OpenAPI documents (in its own virtualenv,
# pinned, under $ANNAL_TEST_TOOLS). Idempotent and quiet when everything is already there;
# uses sudo only when not root.
set -euo pipefail

# schemathesis: a pinned version in a virtualenv of its own, so the tests never depend on what
# else the machine's Python has.
SCHEMATHESIS_VERSION=4.32.5
tools="${ANNAL_TEST_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/annal-test-tools}"
venv="$tools/schemathesis-$SCHEMATHESIS_VERSION"
if [ ! -x "$venv/bin/st" ]; then
  echo "ops/install-test-deps.sh: installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  mkdir -p "$tools"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  "$venv/bin/st" --version >/dev/null
fi

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
