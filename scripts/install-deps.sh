#!/usr/bin/env bash
# Installs the external programs the tests talk to: Debian's redis-server 7
# (the reference for the differential tests), redis-cli / redis-benchmark,
# and redis-py. Idempotent; needs root for apt-get (as on CI).
set -euo pipefail

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps apt from starting a system redis on port 6379.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
redis-server --version | grep -q 'v=7\.' || { echo "redis-server 7.x required, found: $(redis-server --version)"; exit 1; }

if ! python3 -c 'import redis' >/dev/null 2>&1; then
  python3 -m pip install -q --disable-pip-version-check redis
fi
