#!/usr/bin/env bash
# Installs Debian's chromium for the browser test when it is missing. The
# test drives the system browser with playwright-core; no browser is ever
# downloaded by a package manager of its own.
set -euo pipefail
BROWSER=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ -x "$BROWSER" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
test -x "$BROWSER"
