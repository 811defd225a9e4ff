#!/bin/sh
# Start-up of a sentinel pod. The sentinel config is rebuilt at every start
# from what the running set knows, so a sentinel that lost its config is
# re-seeded with the current master instead of the bootstrap one:
#   1. another sentinel names the master -> monitor it;
#   2. a redis pod reports role:master   -> monitor it;
#   3. redis pods answer but none is master (pods in standby: a brand-new
#      set or a whole-set restart; or every pod replicates a dead address,
#      e.g. the master and all sentinels were lost together) -> once every
#      pod answers, or POD_WAIT_SECONDS passed with some answering, the pod
#      with the highest replication offset, ties broken by the lowest
#      ordinal, is promoted and the others are pointed at it (the rule of
#      operator/src/role.rs; every sentinel computes the same pod). A pod
#      still loading its dataset does not count as answering;
#   4. nobody answers -> wait: there is nothing to monitor yet.
# Hostnames, not IPs, everywhere (resolve-hostnames/announce-hostnames).
set -eu

CONFIG="$SENTINEL_DIR/sentinel.conf"

# POD_HOST_TEMPLATE / SENTINEL_HOST (tests only) replace the DNS names
# where there is no cluster DNS, as in start-redis.sh.
pod_host() {
  if [ -n "${POD_HOST_TEMPLATE:-}" ]; then
    # shellcheck disable=SC2059
    printf "$POD_HOST_TEMPLATE\n" "$1"
  else
    echo "${REDIS_SET_NAME}-$1.${HEADLESS_SERVICE}.${POD_NAMESPACE}.svc"
  fi
}
SELF="${SENTINEL_HOST:-${POD_NAME}.${SENTINEL_HEADLESS_SERVICE}.${POD_NAMESPACE}.svc}"

# Replicas besides the master, read at each use from the mounted ConfigMap:
# a scale changes this file, not the pod template, so it restarts no pod.
# (REPLICAS in the environment is the fallback for runs without the file.)
replicas() {
  cat "$CONFIG_DIR/replicas" 2>/dev/null || echo "${REPLICAS:-0}"
}

log() { echo "start-sentinel[$POD_NAME]: $*" >&2; }

sentinel_master() {
  reply=$(timeout 5 redis-cli --raw -h "$SENTINEL_SERVICE" -p "$SENTINEL_PORT" SENTINEL get-master-addr-by-name "$MASTER_NAME" 2>/dev/null) || return 0
  host=$(printf '%s\n' "$reply" | sed -n 1p)
  port=$(printf '%s\n' "$reply" | sed -n 2p)
  case "$port" in
    '' | *[!0-9]*) return 0 ;;
  esac
  [ -n "$host" ] && echo "$host $port"
  return 0
}

# A command to redis pod $1 (its reply on stdout, errors dropped).
pod_cli() {
  pod=$1
  shift
  REDISCLI_AUTH="$REDIS_PASSWORD" timeout 5 redis-cli -h "$(pod_host "$pod")" -p "$REDIS_PORT" "$@" 2>/dev/null
}

# INFO of redis pod $1: its default sections hold role, offsets and
# loading (empty when it does not answer).
replication_info() {
  pod_cli "$1" INFO | tr -d '\r'
}

field() { printf '%s\n' "$1" | sed -n "s/^$2://p"; }

# Sets CHOSEN to "master <ordinal>" if a pod reports role:master, else to
# "best <ordinal>" for the answering pod with the highest offset, else
# empty; ANSWERED to how many pods answered and EXPECTED to how many exist.
choose_master() {
  CHOSEN=""
  ANSWERED=0
  best=""
  best_offset=-1
  i=0
  last=$(replicas)
  EXPECTED=$((last + 1))
  while [ "$i" -le "$last" ]; do
    info=$(replication_info "$i")
    if [ "$(field "$info" loading)" = 1 ]; then
      info=""
    fi
    role=$(field "$info" role)
    [ -n "$role" ] && ANSWERED=$((ANSWERED + 1))
    if [ "$role" = master ]; then
      CHOSEN="master $i"
      return 0
    fi
    if [ "$role" = slave ]; then
      offset=$(field "$info" slave_repl_offset)
      case "$offset" in '' | *[!0-9]*) offset=0 ;; esac
      # Strictly greater: on a tie the lower ordinal (seen first) stays.
      if [ "$offset" -gt "$best_offset" ]; then
        best="$i"
        best_offset="$offset"
      fi
    fi
    i=$((i + 1))
  done
  [ -n "$best" ] && CHOSEN="best $best"
  return 0
}

# Promotes pod $1 and points every other reachable pod at it.
promote() {
  chosen_host=$(pod_host "$1")
  log "no master anywhere: promoting $chosen_host (highest replication offset of $ANSWERED answering pods)"
  pod_cli "$1" REPLICAOF NO ONE >/dev/null || true
  i=0
  last=$(replicas)
  while [ "$i" -le "$last" ]; do
    if [ "$i" != "$1" ]; then
      pod_cli "$i" REPLICAOF "$chosen_host" "$REDIS_PORT" >/dev/null || true
    fi
    i=$((i + 1))
  done
}

POD_WAIT_SECONDS="${POD_WAIT_SECONDS:-60}"
started=$(date +%s)
while :; do
  master=$(sentinel_master)
  if [ -n "$master" ]; then
    log "monitoring $master (known to the sentinels)"
    break
  fi
  choose_master
  case "$CHOSEN" in
    "master "*)
      master="$(pod_host "${CHOSEN#master }") $REDIS_PORT"
      log "monitoring $master (reports role:master)"
      break
      ;;
    "best "*)
      if [ "$ANSWERED" -ge "$EXPECTED" ] || [ $(($(date +%s) - started)) -ge "$POD_WAIT_SECONDS" ]; then
        promote "${CHOSEN#best }"
        master="$(pod_host "${CHOSEN#best }") $REDIS_PORT"
        break
      fi
      log "no master known; $ANSWERED of $EXPECTED redis pods answer: waiting for the others (at most ${POD_WAIT_SECONDS}s)"
      ;;
    *)
      log "no master known and no redis pod answers yet: waiting"
      ;;
  esac
  sleep 2
done

mkdir -p "$SENTINEL_DIR"
{
  cat "$CONFIG_DIR/sentinel.conf"
  echo "sentinel announce-ip $SELF"
  echo "sentinel monitor $MASTER_NAME $master $QUORUM"
  echo "sentinel auth-pass $MASTER_NAME $REDIS_PASSWORD"
  echo "sentinel down-after-milliseconds $MASTER_NAME $DOWN_AFTER_MILLISECONDS"
  echo "sentinel failover-timeout $MASTER_NAME $FAILOVER_TIMEOUT"
  echo "sentinel parallel-syncs $MASTER_NAME $PARALLEL_SYNCS"
} >"$CONFIG"
exec redis-sentinel "$CONFIG"
