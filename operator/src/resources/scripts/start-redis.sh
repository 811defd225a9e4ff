#!/bin/sh
# Start-up of a redis pod. The pod decides its role BEFORE redis-server
# starts, so it never serves (and never replicates) an empty dataset as a
# master by accident:
#   1. the sentinels name another master      -> start as its replica;
#   2. the sentinels name this pod and it still has its data (fast restart)
#                                              -> resume as master;
#   3. the sentinels name this pod but its data is gone and the set has had
#      replicas -> wait (redis down) until the sentinels fail over, then 1.;
#   4. no sentinel knows a master: a peer that reports role:master is
#      followed; otherwise (a brand-new set, or a whole-set restart where
#      the sentinels lost their state too) the pod starts in standby: as a
#      replica of an address where nothing listens, so that it serves its
#      replication offset (from its RDB) but no data as a master. The
#      sentinels' start-up (start-sentinel.sh) then promotes the standby pod
#      with the highest offset, ties broken by the lowest ordinal (ordinal 0
#      of a brand-new set), and points the others at it.
# Every address is a stable DNS name (<pod>.<headless>.<ns>.svc), so a pod
# that comes back with a new IP is still the same instance.
set -eu

ORDINAL="${POD_NAME##*-}"
SET_NAME="${POD_NAME%-*}"

# Stable name of redis pod $1. POD_HOST_TEMPLATE (printf format, %d = the
# ordinal) replaces the DNS name where there is no cluster DNS: the
# operator's tests run this script against local processes with it.
pod_host() {
  if [ -n "${POD_HOST_TEMPLATE:-}" ]; then
    # shellcheck disable=SC2059
    printf "$POD_HOST_TEMPLATE\n" "$1"
  else
    echo "${SET_NAME}-$1.${HEADLESS_SERVICE}.${POD_NAMESPACE}.svc"
  fi
}
SELF=$(pod_host "$ORDINAL")
CONFIG="${CONFIG_DIR}/redis.conf"
POLL_SECONDS=2

# Replicas besides the master, read at each use from the mounted ConfigMap:
# a scale changes this file, not the pod template, so it restarts no pod.
# (REPLICAS in the environment is the fallback for runs without the file.)
replicas() {
  cat "$CONFIG_DIR/replicas" 2>/dev/null || echo "${REPLICAS:-0}"
}

log() { echo "start-redis[$POD_NAME]: $*" >&2; }

# Sentinels have no password; the redis password is only for redis pods.
sentinel_cli() {
  env -u REDISCLI_AUTH timeout 5 redis-cli --raw -h "$SENTINEL_SERVICE" -p "$SENTINEL_PORT" "$@" 2>/dev/null
}

# "host port" of the master the sentinels report, empty when none knows one.
sentinel_master() {
  reply=$(sentinel_cli SENTINEL get-master-addr-by-name "$MASTER_NAME") || return 0
  host=$(printf '%s\n' "$reply" | sed -n 1p)
  port=$(printf '%s\n' "$reply" | sed -n 2p)
  case "$port" in
    '' | *[!0-9]*) return 0 ;;
  esac
  [ -n "$host" ] && echo "$host $port"
  return 0
}

# How many replicas the sentinels have ever seen for the master (0 for a
# brand-new set, empty when no sentinel answers).
sentinel_known_replicas() {
  sentinel_cli SENTINEL master "$MASTER_NAME" | awk 'prev == "num-slaves" { print; exit } { prev = $0 }'
  return 0
}

has_data() {
  [ -s "$DATA_DIR/dump.rdb" ] || [ -d "$DATA_DIR/appendonlydir" ] || [ -s "$DATA_DIR/appendonly.aof" ]
}

# The first peer pod that reports role:master, empty when none does.
peer_master() {
  i=0
  last=$(replicas)
  while [ "$i" -le "$last" ]; do
    peer=$(pod_host "$i")
    if [ "$i" != "$ORDINAL" ]; then
      role=$(timeout 5 redis-cli -h "$peer" -p "$REDIS_PORT" INFO replication 2>/dev/null | tr -d '\r' | sed -n 's/^role://p')
      if [ "$role" = master ]; then
        echo "$peer"
        return 0
      fi
    fi
    i=$((i + 1))
  done
  return 0
}

# Whether this pod may take the master role the sentinels name it for: its
# data survived (checked before any redis of ours ran), or the set is
# brand-new (ordinal 0, the sentinels never saw a replica). Sets WHY.
may_take_master() {
  if [ "$HAD_DATA" = yes ]; then
    WHY="the sentinels still name this pod master and its data survived"
    return 0
  fi
  known=$(sentinel_known_replicas)
  if [ "$ORDINAL" = 0 ] && [ "${known:-0}" = 0 ]; then
    WHY="brand-new set: the sentinels have never seen a replica"
    return 0
  fi
  return 1
}

start_master() {
  log "starting as master ($1)"
  # shellcheck disable=SC2086 # EXTRA_ARGS is a list of words
  exec redis-server "$CONFIG" --replica-announce-ip "$SELF" --requirepass "$REDIS_PASSWORD" --masterauth "$REDIS_PASSWORD" $EXTRA_ARGS
}

# Standby: redis runs as a replica of an address nothing listens on (the
# discard port of the pod's loopback, refused at once), so it serves its
# replication offset but never its data as a master. This script stays
# alongside it (forwarding SIGTERM) and points it at the master the
# sentinels name as soon as they name one (a sentinel's start-up may also
# promote it or point it elsewhere itself); then it only waits for redis.
start_standby() {
  log "no sentinel and no peer knows a master: starting in standby until the sentinels choose one"
  # shellcheck disable=SC2086 # EXTRA_ARGS is a list of words
  redis-server "$CONFIG" --replica-announce-ip "$SELF" --requirepass "$REDIS_PASSWORD" --masterauth "$REDIS_PASSWORD" --replicaof 127.0.0.1 9 $EXTRA_ARGS &
  redis_pid=$!
  trap 'kill -TERM "$redis_pid" 2>/dev/null' TERM INT
  while kill -0 "$redis_pid" 2>/dev/null && ! standby_settled; do
    sleep "$POLL_SECONDS"
  done
  status=0
  while kill -0 "$redis_pid" 2>/dev/null; do
    wait "$redis_pid" && status=0 || status=$?
  done
  exit "$status"
}

# A command to this pod's own redis (its reply on stdout, errors dropped).
own_cli() {
  timeout 5 redis-cli -h "$SELF" -p "$REDIS_PORT" "$@" 2>/dev/null
}

# True once this standby pod follows (or is) the master the sentinels
# name; points it there when it does not yet.
standby_settled() {
  master=$(sentinel_master)
  [ -n "$master" ] || return 1
  host="${master% *}"
  port="${master#* }"
  info=$(own_cli INFO replication | tr -d '\r')
  if [ "$host" = "$SELF" ]; then
    case "$info" in *role:master*) return 0 ;; esac
    # Named master while in standby (the sentinels came up after this pod
    # asked): the start-up rule decides, as in the main loop below.
    if may_take_master; then
      log "the sentinels name this pod master: taking the role ($WHY)"
      own_cli REPLICAOF NO ONE >/dev/null || true
    fi
    return 1
  fi
  case "$info" in
    *"master_host:$host"*"master_port:$port"*) return 0 ;;
  esac
  log "the sentinels name $host:$port: replicating it"
  own_cli REPLICAOF "$host" "$port" >/dev/null || true
  return 1
}

start_replica() {
  log "starting as replica of $1:$2"
  # shellcheck disable=SC2086 # EXTRA_ARGS is a list of words
  exec redis-server "$CONFIG" --replica-announce-ip "$SELF" --requirepass "$REDIS_PASSWORD" --masterauth "$REDIS_PASSWORD" --replicaof "$1" "$2" $EXTRA_ARGS
}

EXTRA_ARGS="${EXTRA_ARGS:-}"
mkdir -p "$DATA_DIR"
if has_data; then HAD_DATA=yes; else HAD_DATA=no; fi
while :; do
  master=$(sentinel_master)
  if [ -n "$master" ]; then
    host="${master% *}"
    port="${master#* }"
    if [ "$host" != "$SELF" ]; then
      start_replica "$host" "$port"
    fi
    if may_take_master; then
      start_master "$WHY"
    fi
    log "the sentinels name this pod master but its data is gone: waiting for them to fail over"
  else
    peer=$(peer_master)
    if [ -n "$peer" ]; then
      start_replica "$peer" "$REDIS_PORT"
    fi
    start_standby
  fi
  sleep "$POLL_SECONDS"
done
