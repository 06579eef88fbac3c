#!/usr/bin/env bash
# What the real-browser report tests (tests/reports/test_browser.py) and the standards-parser test need:
# Debian's headless Chromium, a font, and html5lib. Idempotent; .ci/run calls it before pytest.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

if ! [ -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  apt-cache policy chromium | sed -n '1,3p'
  $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
/usr/bin/chromium --version 2>/dev/null || true

python -c "import html5lib" 2>/dev/null || python -m pip install -q html5lib
