#!/usr/bin/env bash
# Installs the third-party programs the test suite runs against Annal: Debian's `scep` package
# (micromdm's scepclient, for tests/scep_interop.rs), the openssl CLI (push certificates,
# .p12 exports and CMS checks in the tests), and what the documents' walk-throughs call
# (tests/walkthroughs.rs): curl, jq and psql; schemathesis from PyPI, the API conformance
# tester tests/api_conformance.rs runs against both OpenAPI documents (in its own virtualenv,
# pinned, under $ANNAL_TEST_TOOLS); and for the console's real-browser suite
# (tests/console_browser.rs) Debian's chromium, Node.js and playwright-core from npm (pinned,
# under $ANNAL_TEST_TOOLS; it drives the system chromium, so no browser is downloaded).
# Idempotent and quiet when everything is already there; uses sudo only when not root.
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
# Keep in step with PLAYWRIGHT_CORE_VERSION in tests/console_browser.rs.
PLAYWRIGHT_CORE_VERSION=1.65.2
tools="${ANNAL_TEST_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/annal-test-tools}"

# schemathesis: a pinned version in a virtualenv of its own, so the tests never depend on what
# else the machine's Python has.
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
# The browser suite launches /usr/bin/chromium itself (playwright's own browser downloads are
# not used); fonts-liberation gives its screenshots real glyph metrics.
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-liberation)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
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
  for program in scepclient openssl curl jq psql /usr/bin/chromium node npm; do
    command -v "$program" >/dev/null 2>&1 || {
      echo "ops/install-test-deps.sh: $program is still missing after installing ${missing[*]}" >&2
      exit 1
    }
  done
fi

# playwright-core: the browser driver library alone (no bundled browsers), pinned, in a
# directory of its own that tests/console_browser.rs hands to the driver script.
playwright="$tools/playwright-core-$PLAYWRIGHT_CORE_VERSION"
if [ ! -f "$playwright/node_modules/playwright-core/package.json" ]; then
  echo "ops/install-test-deps.sh: installing playwright-core $PLAYWRIGHT_CORE_VERSION into $playwright"
  mkdir -p "$tools"
  rm -rf "$playwright"
  mkdir -p "$playwright"
  # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: the package must not fetch browsers of its own.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$playwright" --no-audit --no-fund \
    --loglevel=error "playwright-core@$PLAYWRIGHT_CORE_VERSION" >/dev/null
  node -e "require('$playwright/node_modules/playwright-core')" >/dev/null
fi
