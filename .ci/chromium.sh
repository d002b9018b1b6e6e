#!/usr/bin/env bash
# Prints the path of the Chromium the console's browser tests drive (tests/console/, npm run test:browser,
# npm run console:screenshots), installing the distribution's package when it is missing (apt-get update,
# then install, as root). playwright-core drives it through its executablePath; no browser is downloaded.
set -euo pipefail
find_chromium() { [ -x /usr/bin/chromium ] && echo /usr/bin/chromium; }
if ! find_chromium >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "chromium is not installed and this is not root: install the distribution's chromium package (apt-get install chromium)" >&2
    exit 1
  fi
  exec 9>"${TMPDIR:-/tmp}/switchboard-chromium-install.lock"
  flock 9
  if ! find_chromium >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
find_chromium
