#!/bin/sh
# Readiness of a redis pod: it answers, and a replica has finished its sync
# (master_link_status:up, no sync in progress), so a Service never sends
# reads to a replica that is still loading or serving stale data.
set -eu
# READINESS_HOST (tests only): where the pod's redis listens when it is not
# on the loopback address.
info=$(timeout 3 redis-cli -h "${READINESS_HOST:-127.0.0.1}" -p "$REDIS_PORT" INFO replication | tr -d '\r')
case "$info" in
  *role:master*) exit 0 ;;
  *role:slave*)
    case "$info" in
      *master_link_status:up*) ;;
      *) echo "replica link is not up" >&2; exit 1 ;;
    esac
    case "$info" in
      *master_sync_in_progress:0*) exit 0 ;;
      *) echo "replica sync in progress" >&2; exit 1 ;;
    esac
    ;;
esac
echo "no replication role reported" >&2
exit 1
