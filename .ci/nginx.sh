#!/usr/bin/env bash
# Prints the path of the nginx binary the cluster test runs, installing the distribution's
# package when it is missing (apt-get, as root). The test starts its own nginx on a loopback
# port with a configuration in a temporary directory (tests/helpers/nginx.ts); the package's
# service is not used (in a container policy-rc.d keeps it from starting).
set -euo pipefail
find_nginx() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }; }
if ! find_nginx >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "nginx is not installed and this is not root: install the distribution's nginx package (apt-get install nginx)" >&2
    exit 1
  fi
  # Test files running at once may all find it missing: one installs, the others wait for it.
  exec 9>"${TMPDIR:-/tmp}/switchboard-nginx-install.lock"
  flock 9
  if ! find_nginx >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null
  fi
fi
find_nginx
