#!/usr/bin/env bash
# Install the toolchain that scripts/build_report.py needs to turn the executed
# notebooks into report/report.pdf:
#   xelatex   (texlive-xetex, texlive-fonts-recommended, texlive-plain-generic)
#   pandoc    (nbconvert converts markdown cells and math with it)
#   pdftotext (poppler-utils; used to check the rendered PDF)
#
# Idempotent: does nothing when all three programs are already on PATH.
# Uses sudo only when not running as root. If the packages cannot be installed
# (no apt-get, no root/sudo, no network) it prints exactly what is missing and
# exits non-zero, so CI fails loudly instead of producing no report.
set -euo pipefail

PACKAGES=(texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc poppler-utils)

# program -> Debian package that provides it
declare -A PROVIDER=(
  [xelatex]="texlive-xetex texlive-fonts-recommended texlive-plain-generic"
  [pandoc]="pandoc"
  [pdftotext]="poppler-utils"
)

missing_programs() {
  local prog
  for prog in xelatex pandoc pdftotext; do
    command -v "$prog" >/dev/null 2>&1 || echo "$prog"
  done
}

report_missing_and_fail() {
  local reason="$1"
  local prog
  echo "ERROR: cannot install the PDF toolchain: ${reason}" >&2
  echo "Missing programs and the Debian/Ubuntu packages that provide them:" >&2
  for prog in $(missing_programs); do
    echo "  ${prog}: ${PROVIDER[$prog]}" >&2
  done
  echo "Install them manually, e.g.:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${PACKAGES[*]}" >&2
  exit 1
}

MISSING="$(missing_programs)"
if [[ -z "$MISSING" ]]; then
  echo "PDF toolchain already installed: $(command -v xelatex) $(command -v pandoc) $(command -v pdftotext)"
  exit 0
fi
echo "Missing programs: $(echo $MISSING)"

if ! command -v apt-get >/dev/null 2>&1; then
  report_missing_and_fail "apt-get is not available on this system"
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    report_missing_and_fail "not root and passwordless sudo is not available"
  fi
fi

export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get update; then
  report_missing_and_fail "'apt-get update' failed (no network access to the package mirror?)"
fi
if ! "${SUDO[@]}" apt-get install -y --no-install-recommends "${PACKAGES[@]}"; then
  report_missing_and_fail "'apt-get install ${PACKAGES[*]}' failed"
fi

STILL_MISSING="$(missing_programs)"
if [[ -n "$STILL_MISSING" ]]; then
  report_missing_and_fail "packages installed but programs still not on PATH"
fi
echo "PDF toolchain installed: $(command -v xelatex) $(command -v pandoc) $(command -v pdftotext)"
