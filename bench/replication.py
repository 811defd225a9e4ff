#!/usr/bin/env python3
"""Replication benchmarks of redis-ha-node next to a real redis-server, in
the same run on the same machine (each master replicated by a replica of its
own kind):

* full sync time of a dataset of N keys (DEBUG POPULATE; 1M, --quick 20k):
  from REPLICAOF until the replica's link is up with every key loaded;
* replication lag under redis-benchmark SET load: master_repl_offset minus
  the replica's acknowledged offset (INFO slave0 offset=), sampled every
  10 ms, p50 and p99 in bytes; also minus the replica's applied offset
  (its INFO slave_repl_offset), since ACKs only go out once a second;
* master SET throughput (-P 1 and -P 16) with two replicas attached.

    python3 bench/replication.py [--quick]

Every figure is printed for both servers with the ratio ours / redis.
"""
import argparse
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import Server, benchmark, build_ours  # noqa: E402


def info(server, section):
    fields = {}
    for line in server.cli("INFO", section).splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k] = v.strip()
    return fields


def wait(what, cond, limit=600):
    deadline = time.time() + limit
    while not cond():
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)


def linked(replica, keys=None):
    f = info(replica, "replication")
    if f.get("master_link_status") != "up":
        return False
    return keys is None or int(replica.cli("DBSIZE").strip()) == keys


MASTER_ARGS = ["--enable-debug-command", "yes", "--repl-diskless-sync-delay", "0"]


def full_sync_seconds(binary, name, keys):
    master = Server(binary, f"{name}-m", MASTER_ARGS)
    replica = Server(binary, f"{name}-r")
    try:
        master.cli("DEBUG", "POPULATE", str(keys))
        started = time.time()
        replica.cli("REPLICAOF", "127.0.0.1", str(master.port))
        wait("full sync", lambda: linked(replica, keys))
        return time.time() - started
    finally:
        replica.stop()
        master.stop()


def percentile(values, p):
    values = sorted(values)
    if not values:
        return 0
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def lag_under_load(binary, name, requests):
    master = Server(binary, f"{name}-m", MASTER_ARGS)
    replica = Server(binary, f"{name}-r")
    try:
        replica.cli("REPLICAOF", "127.0.0.1", str(master.port))
        wait("link", lambda: linked(replica))
        done = threading.Event()
        samples, applied = [], []

        def sample():
            while not done.is_set():
                f = info(master, "replication")
                slave = f.get("slave0", "")
                acked = [p.split("=", 1)[1] for p in slave.split(",") if p.startswith("offset=")]
                if acked:
                    samples.append(int(f["master_repl_offset"]) - int(acked[0]))
                # What the replica has applied (its ACKs are sent once a
                # second, so the acked figure mostly measures that period).
                r = int(info(replica, "replication").get("slave_repl_offset", "0"))
                applied.append(max(0, int(info(master, "replication")["master_repl_offset"]) - r))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            benchmark(master.port, requests, 50, 1, "set")
        finally:
            done.set()
            sampler.join()
        return (percentile(samples, 50), percentile(samples, 99), len(samples),
                percentile(applied, 50), percentile(applied, 99))
    finally:
        replica.stop()
        master.stop()


def start_with_two_replicas(binary, name):
    master = Server(binary, f"{name}-m", MASTER_ARGS)
    replicas = [Server(binary, f"{name}-r{i}") for i in range(2)]
    for r in replicas:
        r.cli("REPLICAOF", "127.0.0.1", str(master.port))
    for r in replicas:
        wait("link", lambda r=r: linked(r))
    return master, replicas


def throughput_two_replicas(servers, requests, rounds):
    """Both setups run side by side and are benchmarked alternately,
    `rounds` times, keeping the median: CPU time here is noisy and
    alternating makes a slow spell hurt both alike."""
    setups = {}
    try:
        for name, binary in servers:
            setups[name] = start_with_two_replicas(binary, name)
        samples = {name: {1: [], 16: []} for name, _ in servers}
        for _ in range(rounds):
            for pipeline in (1, 16):
                for name, _ in servers:
                    rates = benchmark(setups[name][0].port, requests, 50, pipeline, "set")
                    samples[name][pipeline].append(next(iter(rates.values()), 0.0))
        return {name: {p: sorted(v)[len(v) // 2] for p, v in by_p.items()} for name, by_p in samples.items()}
    finally:
        for master, replicas in setups.values():
            for r in replicas:
                r.stop()
            master.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    parser.add_argument("--ours", help="our binary (default: build the release binary)")
    args = parser.parse_args()
    keys, requests = (1_000_000, 300_000) if not args.quick else (20_000, 20_000)
    ours_bin = args.ours or build_ours()
    servers = (("redis", args.redis_server), ("ours", ours_bin))

    sync = {name: full_sync_seconds(b, name, keys) for name, b in servers}
    print(f"# full sync of {keys} keys (DEBUG POPULATE), REPLICAOF to link up with all keys, seconds")
    print(f"redis {sync['redis']:.2f}  ours {sync['ours']:.2f}  ratio ours/redis {sync['ours'] / sync['redis']:.2f} (<= 1.0 is faster)")

    lag = {name: lag_under_load(b, name, requests) for name, b in servers}
    print(f"# replication lag in bytes (master_repl_offset - replica ack) under redis-benchmark -t set -c 50 -n {requests}")
    for name in ("redis", "ours"):
        p50, p99, n, a50, a99 = lag[name]
        print(f"{name:>6} acked p50 {p50:>9} p99 {p99:>9} | applied p50 {a50:>9} p99 {a99:>9} ({n} samples)")
    for i, label in ((0, "acked p50"), (1, "acked p99"), (3, "applied p50"), (4, "applied p99")):
        r, o = lag["redis"][i], lag["ours"][i]
        print(f"# lag {label} ours/redis: {o / r if r else float('nan'):.2f}")

    rounds = 1 if args.quick else 3
    tput = throughput_two_replicas(servers, requests, rounds)
    print(f"# master SET throughput with two replicas attached, redis-benchmark -c 50 -n {requests}, "
          f"median of {rounds} alternating runs")
    for pipeline in (1, 16):
        r, o = tput["redis"][pipeline], tput["ours"][pipeline]
        print(f"-P {pipeline:<3} redis {r:>10.0f}  ours {o:>10.0f}  ratio {o / r if r else 0.0:.2f}")


if __name__ == "__main__":
    sys.exit(main())
