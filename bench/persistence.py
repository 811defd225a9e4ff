#!/usr/bin/env python3
"""Persistence benchmark: redis-ha-node side by side with a real redis-server
in the same run, on the same dataset of mixed types.

    python3 bench/persistence.py [--quick]   (also run by bench/run.py)

1. Loads N keys (40% strings, 15% each hashes, lists, sets and sorted sets of
   5 items) into both servers with one pipelined `redis-cli --pipe` stream,
   so both hold the same data.
2. Times SAVE (client round trip) and the start-up load of that dump.rdb
   (the server's own "DB loaded from disk: X seconds" log line), and prints
   our time as a ratio of Redis's (target <= 1.0).
3. Measures the p99 latency of GET and SET (redis-benchmark, another client)
   idle and while BGSAVEs run back to back, per server (target: during /
   idle within 2x).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def dataset_file(keys):
    """The RESP stream that builds the dataset, written once to a temp file."""
    fd, path = tempfile.mkstemp(prefix="bench-dataset-", suffix=".resp")

    def cmd(*args):
        parts = [f"*{len(args)}\r\n".encode()]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(parts)

    with os.fdopen(fd, "wb") as f:
        chunk = []
        for i in range(keys):
            kind = i % 20
            if kind < 8:
                chunk.append(cmd("SET", f"str:{i}", f"value-{i}-" + "x" * (i % 32)))
            elif kind < 11:
                chunk.append(cmd("HSET", f"hash:{i}", *[x for j in range(5) for x in (f"f{j}", f"v{i}-{j}")]))
            elif kind < 14:
                chunk.append(cmd("RPUSH", f"list:{i}", *[f"item-{i}-{j}" for j in range(5)]))
            elif kind < 17:
                chunk.append(cmd("SADD", f"set:{i}", *[f"m{i}-{j}" for j in range(5)]))
            else:
                chunk.append(cmd("ZADD", f"zset:{i}", *[x for j in range(5) for x in (str(j * 1.5), f"z{i}-{j}")]))
            if len(chunk) >= 10000:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))
    return path


def load_dataset(server, path):
    with open(path, "rb") as f:
        subprocess.run(["redis-cli", "-p", str(server.port), "--pipe"], stdin=f,
                       capture_output=True, check=True)


def loaded_seconds(log_path):
    """The last 'DB loaded from disk: X seconds' of a server log."""
    with open(log_path, errors="replace") as f:
        found = re.findall(r"DB loaded from disk: ([0-9.]+) seconds", f.read())
    return float(found[-1]) if found else None


def restart(run, server, binary):
    """Restarts `server` on its directory; returns the seconds the start-up
    load of dump.rdb took (its own log line; wall time if it has none)."""
    server.cli("SHUTDOWN", "NOSAVE")
    server.proc.wait(30)
    server.log.close()
    log_path = os.path.join(server.dir, "restart.log")
    server.log = open(log_path, "w")
    started = time.perf_counter()
    server.proc = subprocess.Popen(
        [binary, "--port", str(server.port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", server.dir],
        stdout=server.log, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while not run.ping(server.port):
        if server.proc.poll() is not None or time.time() > deadline:
            raise SystemExit(f"{server.name} did not restart; see {log_path}")
        time.sleep(0.01)
    wall = time.perf_counter() - started
    server.log.flush()
    logged = loaded_seconds(log_path)
    return logged if logged is not None else wall


def save_and_load(run, bins, dataset, keys, rounds):
    """Per server: median SAVE seconds, median load seconds, keys after the
    last load, dump size. Both servers hold the data at once and the
    measurements alternate between them, so load from other processes on
    the machine hits both alike."""
    servers = {name: run.Server(binary, name) for name, binary in bins.items()}
    try:
        for name, server in servers.items():
            load_dataset(server, dataset)
            size = int(server.cli("DBSIZE").strip())
            if size != keys:
                raise SystemExit(f"{name}: loaded {size} keys, expected {keys}")
        saves = {name: [] for name in servers}
        loads = {name: [] for name in servers}
        for _ in range(rounds):
            for name, server in servers.items():
                started = time.perf_counter()
                server.cli("SAVE")
                saves[name].append(time.perf_counter() - started)
        for _ in range(rounds):
            for name, server in servers.items():
                loads[name].append(restart(run, server, bins[name]))
        results = {}
        for name, server in servers.items():
            dump = os.path.getsize(os.path.join(server.dir, "dump.rdb"))
            after = int(server.cli("DBSIZE").strip())
            results[name] = (run.median(saves[name]), run.median(loads[name]), after, dump)
        return results
    finally:
        for server in servers.values():
            server.stop()


def bgsave_latency(run, bins, dataset, requests, clients, rounds):
    """Per server: median p99 of GET/SET idle and during back-to-back
    BGSAVEs (alternating between the servers), and the saves run."""
    servers = {name: run.Server(binary, name) for name, binary in bins.items()}
    try:
        for server in servers.values():
            load_dataset(server, dataset)
        idle = {name: [] for name in servers}
        saving = {name: [] for name in servers}
        for _ in range(rounds):
            for name, server in servers.items():
                idle[name].append(run.p99_latencies(server.port, requests, clients))
                stop = threading.Event()
                saver = threading.Thread(target=run.keep_bgsaving, args=(server, stop))
                saver.start()
                try:
                    time.sleep(0.2)
                    saving[name].append(run.p99_latencies(server.port, requests, clients))
                finally:
                    stop.set()
                    saver.join()

        def medians(samples):
            return {test: run.median([s[test] for s in samples]) for test in samples[0]}

        return {name: (medians(idle[name]), medians(saving[name]),
                       server.info_field("persistence", "rdb_saves"))
                for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()


def bench(ours_bin, redis_bin, quick):
    import run
    keys, requests, clients = (20000, 5000, 10) if quick else (1000000, 200000, 50)
    dataset = dataset_file(keys)
    try:
        rounds = 1 if quick else 3
        results = save_and_load(run, {"redis": redis_bin, "ours": ours_bin}, dataset, keys, rounds)
        print(f"# persistence: {keys} keys of mixed types (40% strings, 15% each hash/list/set/zset of 5 items); "
              f"median of {rounds} alternating SAVEs and restarts")
        print(f"{'server':>6} {'SAVE s':>8} {'load s':>8} {'keys':>9} {'dump MiB':>9}")
        for name, (save_s, load_s, after, dump) in results.items():
            print(f"{name:>6} {save_s:>8.3f} {load_s:>8.3f} {after:>9} {dump / 2**20:>9.1f}")
        r, o = results["redis"], results["ours"]
        print(f"# SAVE ours / redis: {o[0] / r[0]:.2f}   load ours / redis: {o[1] / r[1]:.2f}   (target <= 1.0)")
        print(f"# p99 latency (ms), redis-benchmark -c {clients} -n {requests} -t get,set, same dataset, "
              f"idle vs. during back-to-back BGSAVEs (saves run in brackets); median of {rounds} alternating runs")
        print(f"{'server':>6} {'test':<6} {'idle p99':>9} {'bgsave p99':>11} {'ratio':>7}")
        latency = bgsave_latency(run, {"redis": redis_bin, "ours": ours_bin}, dataset, requests, clients, rounds)
        for name in ("redis", "ours"):
            idle, saving, saves = latency[name]
            for test, idle_p99 in idle.items():
                during = saving.get(test, 0.0)
                ratio = during / idle_p99 if idle_p99 else 0.0
                print(f"{name:>6} {test:<6} {idle_p99:>9.3f} {during:>11.3f} {ratio:>7.2f}  ({saves})")
        for test, redis_p99 in latency["redis"][1].items():
            ours_p99 = latency["ours"][1].get(test, 0.0)
            print(f"# {test} p99 during BGSAVE, ours / redis: {ours_p99 / redis_p99 if redis_p99 else 0.0:.2f}")
    finally:
        os.unlink(dataset)


def main():
    import run
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    args = parser.parse_args()
    bench(run.build_ours(), args.redis_server, args.quick)


if __name__ == "__main__":
    sys.exit(main())
