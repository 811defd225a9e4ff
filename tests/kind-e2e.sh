#!/usr/bin/env bash
# End-to-end test of redis-ha-operator on a throw-away kind cluster:
#
#   1. create the cluster (kind-config.yaml), build and load the images;
#   2. install the CRD and the operator (deploy/), apply the example RedisHA;
#   3. wait for phase Ready, start a writer that counts a write as
#      acknowledged only when SET returned OK *and* WAIT saw it on a replica;
#   4. delete the master pod, wait for the failover to appear in
#      status.failovers and for phase Ready with a new master;
#   5. check `kubectl get redisha`, the Events, that the deleted master came
#      back as a replica, and that every acknowledged write is on the new master.
#
# Needs docker, kind and kubectl. Environment:
#   CLUSTER       kind cluster name             (redis-ha-e2e)
#   REDIS_IMAGE   image of redis/sentinel pods  (redis-ha/node:0.1.0, built here;
#                 any other value, e.g. redis:7.0, is pulled and loaded instead)
#   KEEP_CLUSTER  1 keeps the cluster afterwards (0)
#   TIMEOUT       seconds for each wait         (300)
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-redis-ha-e2e}
REDIS_IMAGE=${REDIS_IMAGE:-redis-ha/node:0.1.0}
OPERATOR_IMAGE=redis-ha/operator:0.1.0
KEEP_CLUSTER=${KEEP_CLUSTER:-0}
TIMEOUT=${TIMEOUT:-300}
NS=default
NAME=cache
WORKDIR=$(mktemp -d)

log() { printf '\n==> %s\n' "$*"; }
fail() { printf '\nFAIL: %s\n' "$*" >&2; exit 1; }

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done

cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ] && kubectl cluster-info --context "kind-$CLUSTER" >/dev/null 2>&1; then
    log "diagnostics (exit code $rc)"
    kubectl get redisha,statefulsets,pods,services,pdb -n "$NS" -o wide || true
    kubectl describe redisha "$NAME" -n "$NS" || true
    kubectl logs -n redis-ha-system deploy/redis-ha-operator --tail=200 || true
    kubectl logs -n "$NS" writer --tail=20 || true
  fi
  kubectl delete pod writer -n "$NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  if [ "$KEEP_CLUSTER" != 1 ]; then
    kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORKDIR"
  exit "$rc"
}
trap cleanup EXIT

# wait_until DESCRIPTION COMMAND...: retries COMMAND every 2 s for $TIMEOUT s.
wait_until() {
  local what=$1
  shift
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${TIMEOUT}s waiting for $what"
    sleep 2
  done
}

status_field() {
  kubectl get redisha "$NAME" -n "$NS" -o "jsonpath={.status.$1}"
}

phase_is() { [ "$(status_field phase)" = "$1" ]; }

log "creating kind cluster $CLUSTER"
kind create cluster --name "$CLUSTER" --config kind-config.yaml --wait "${TIMEOUT}s"
kubectl config use-context "kind-$CLUSTER"

log "building and loading images"
docker build -f docker/Dockerfile.operator -t "$OPERATOR_IMAGE" .
if [ "$REDIS_IMAGE" = redis-ha/node:0.1.0 ]; then
  docker build -f docker/Dockerfile.node -t "$REDIS_IMAGE" .
else
  docker pull "$REDIS_IMAGE"
fi
kind load docker-image --name "$CLUSTER" "$OPERATOR_IMAGE" "$REDIS_IMAGE"

log "installing the CRD and the operator"
kubectl apply -f deploy/crd.yaml
kubectl wait --for condition=established crd/redishas.redisha.dev --timeout="${TIMEOUT}s"
kubectl apply -f deploy/operator.yaml
kubectl rollout status -n redis-ha-system deploy/redis-ha-operator --timeout="${TIMEOUT}s"

log "applying the example RedisHA with image $REDIS_IMAGE"
sed "s|^spec:|spec:\n  image: $REDIS_IMAGE|" deploy/examples/redisha.yaml >"$WORKDIR/redisha.yaml"
kubectl apply -f "$WORKDIR/redisha.yaml"
wait_until "phase Ready" phase_is Ready
kubectl get redisha "$NAME" -n "$NS"

old_master=$(status_field master.pod)
[ -n "$old_master" ] || fail "status.master.pod is empty while Ready"
[ "$(kubectl get pod "$old_master" -n "$NS" -o 'jsonpath={.metadata.labels.redisha\.dev/role}')" = master ] ||
  fail "$old_master does not carry redisha.dev/role=master"
password=$(kubectl get secret "$NAME-auth" -n "$NS" -o 'jsonpath={.data.password}' | base64 -d)

log "starting the writer (through Service $NAME-master)"
# Each write is SET followed by WAIT 1 on the same connection: it counts as
# acknowledged ("ack N") only when a replica has it, which is the promise a
# failover keeps (sentinels promote the replica with the highest offset).
# shellcheck disable=SC2016 # the loop is expanded by the writer pod's sh
kubectl run writer -n "$NS" --image="$REDIS_IMAGE" --image-pull-policy=Never --restart=Never \
  --env="REDISCLI_AUTH=$password" --command -- sh -c '
    i=0
    while :; do
      i=$((i + 1))
      reply=$(printf "SET key:%s %s\nWAIT 1 2000\n" "$i" "$i" | timeout 5 redis-cli -h '"$NAME"'-master -p 6379 2>/dev/null | tr "\n" " ")
      case "$reply" in
        "OK 1 "* | "OK 2 "*) echo "ack $i" ;;
        *) echo "nack $i: $reply" ;;
      esac
      sleep 0.05
    done'
kubectl wait --for=condition=Ready pod/writer -n "$NS" --timeout="${TIMEOUT}s"
acked_before() { [ "$(kubectl logs writer -n "$NS" | grep -c '^ack ')" -ge "$1" ]; }
wait_until "50 acknowledged writes" acked_before 50

log "deleting master pod $old_master"
kubectl delete pod "$old_master" -n "$NS" --wait=false
failover_recorded() {
  [ "$(status_field failoverCount)" -ge 1 ] && [ "$(status_field master.pod)" != "$old_master" ]
}
wait_until "the failover in status.failovers" failover_recorded
wait_until "phase Ready after the failover" phase_is Ready
new_master=$(status_field master.pod)
log "failover: $old_master -> $new_master"
kubectl get redisha "$NAME" -n "$NS" -o 'jsonpath={.status.failovers[-1]}'
echo

log "checking kubectl get redisha"
table=$(kubectl get redisha "$NAME" -n "$NS")
echo "$table"
header=$(echo "$table" | head -1)
for column in NAME MASTER PHASE REPLICAS SENTINELS FAILOVERS "LAST FAILOVER" AGE; do
  echo "$header" | grep -q "$column" || fail "column $column missing from kubectl get redisha"
done
echo "$table" | tail -1 | grep -q "$new_master" || fail "MASTER column does not show $new_master"
echo "$table" | tail -1 | grep -q Ready || fail "PHASE column is not Ready"

log "checking Events"
events=$(kubectl get events -n "$NS" --field-selector "involvedObject.name=$NAME" -o 'jsonpath={.items[*].reason}')
for reason in MasterDown FailoverStarted FailoverCompleted; do
  echo "$events" | grep -qw "$reason" || fail "no $reason Event (saw: $events)"
done
[ "$(kubectl get pod "$new_master" -n "$NS" -o 'jsonpath={.metadata.labels.redisha\.dev/role}')" = master ] ||
  fail "the role=master label did not move to $new_master"

log "checking that $old_master came back as a replica"
old_is_replica() {
  kubectl exec -n "$NS" "$old_master" -- sh -c 'redis-cli INFO replication' | tr -d '\r' | grep -q '^role:slave'
}
wait_until "$old_master to rejoin as replica" old_is_replica

log "checking that no acknowledged write was lost"
# Logs first (they only grow), then stop the writer.
kubectl logs writer -n "$NS" | sed -n 's/^ack //p' >"$WORKDIR/acked"
kubectl delete pod writer -n "$NS" --wait=false >/dev/null
acked=$(wc -l <"$WORKDIR/acked")
[ "$acked" -gt 0 ] || fail "the writer has no acknowledged writes"
sed 's/^/EXISTS key:/' "$WORKDIR/acked" >"$WORKDIR/exists"
missing=$(kubectl exec -i -n "$NS" "$new_master" -- redis-cli <"$WORKDIR/exists" | grep -c '^0' || true)
echo "acknowledged writes: $acked, missing on the new master: $missing"
[ "$missing" -eq 0 ] || fail "$missing acknowledged writes were lost"

kubectl describe redisha "$NAME" -n "$NS"
log "PASS"
