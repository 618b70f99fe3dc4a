#!/usr/bin/env bash
# Install Debian's chromium for the browser test (tests/test_browser.py drives it with Playwright).
# Playwright's own browser download cannot be reached here, so the test launches /usr/bin/chromium.
#
# Idempotent: does nothing when /usr/bin/chromium exists. Runs 'apt-get update' once, then
# 'apt-get install -y --no-install-recommends chromium'; uses sudo only when not root. On failure it
# says why and exits non-zero, so 'make test' (and CI) stops instead of skipping the browser test.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x "$CHROMIUM" ]]; then
  echo "chromium already installed: $CHROMIUM"
  exit 0
fi

fail() {
  echo "ERROR: cannot install chromium for the browser test: $1" >&2
  echo "Install it by hand: sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium" >&2
  exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "apt-get is not available on this system"

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    fail "not root and passwordless sudo is not available"
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update || fail "'apt-get update' failed (no access to the package mirror?)"
"${SUDO[@]}" apt-get install -y --no-install-recommends chromium || fail "'apt-get install chromium' failed"
[[ -x "$CHROMIUM" ]] || fail "the chromium package is installed but $CHROMIUM is missing"
echo "chromium installed: $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
