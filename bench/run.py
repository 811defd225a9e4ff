#!/usr/bin/env python3
"""Throughput and memory of redis-ha-node compared with a real redis-server,
measured in the same run on the same machine.

    python3 bench/run.py            # full run: -c 50 -n 200000, -P 1 and -P 16
    python3 bench/run.py --quick    # smoke run with small counts (used by CI)

Prints one line per test with both servers' requests per second and the
ratio ours / redis (>= 1.0 means we are at least as fast), then the
used_memory_rss of 1 million small keys (DEBUG POPULATE) and its ratio,
then bench/persistence.py: SAVE and load times of a mixed dataset and the
GET/SET p99 latency with and without a BGSAVE running.
"""
import argparse
import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = ["set", "get", "incr", "lpush", "lpop", "sadd", "hset", "zadd", "mset", "lrange_100"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Server:
    def __init__(self, binary, name, extra=()):
        self.name = name
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"bench-{name}-")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, *extra]
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while not ping(self.port):
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"{name} did not start; see {self.dir}/log")
            time.sleep(0.05)

    def cli(self, *args):
        out = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, check=True)
        return out.stdout

    def info_field(self, section, field):
        for line in self.cli("INFO", section).splitlines():
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
        raise SystemExit(f"{self.name}: INFO {section} has no {field}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def benchmark(port, requests, clients, pipeline, test):
    cmd = ["redis-benchmark", "-p", str(port), "-c", str(clients), "-n", str(requests),
           "-P", str(pipeline), "-t", test, "--csv"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rates = {}
    for row in csv.reader(io.StringIO(out)):
        if len(row) >= 2 and row[0] != "test":
            try:
                rates[row[0]] = float(row[1])
            except ValueError:
                pass
    return rates


def p99_latencies(port, requests, clients):
    """p99 latency (ms) of GET and SET from redis-benchmark's CSV output."""
    cmd = ["redis-benchmark", "-p", str(port), "-c", str(clients), "-n", str(requests),
           "-t", "get,set", "-r", "100000", "--csv"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = list(csv.reader(io.StringIO(out)))
    column = rows[0].index("p99_latency_ms")
    return {row[0]: float(row[column]) for row in rows[1:] if len(row) > column}


def keep_bgsaving(server, stop):
    """Starts a new BGSAVE whenever none runs, until `stop` is set."""
    while not stop.is_set():
        subprocess.run(["redis-cli", "-p", str(server.port), "BGSAVE"], capture_output=True)
        stop.wait(0.05)


def build_ours():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "redis-ha-node"], cwd=ROOT, check=True)
    return os.path.join(ROOT, "target", "release", "redis-ha-node")


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def throughput(ours_bin, redis_bin, requests, clients, rounds):
    """Runs every test against both servers alternately, `rounds` times, and
    keeps the median: this machine's CPU time is noisy, and alternating means
    a slow spell hurts both sides alike."""
    results = []
    for pipeline in (1, 16):
        redis = Server(redis_bin, "redis")
        ours = Server(ours_bin, "ours")
        try:
            for test in TESTS:
                samples = {"redis": {}, "ours": {}}
                for _ in range(rounds):
                    for name, server in (("redis", redis), ("ours", ours)):
                        for label, rps in benchmark(server.port, requests, clients, pipeline, test).items():
                            samples[name].setdefault(label, []).append(rps)
                for label, redis_runs in samples["redis"].items():
                    ours_runs = samples["ours"].get(label, [0.0])
                    results.append((pipeline, label, median(redis_runs), median(ours_runs)))
        finally:
            redis.stop()
            ours.stop()
    return results


def memory(ours_bin, redis_bin, keys):
    rss = {}
    for name, binary, extra in (("redis", redis_bin, ["--enable-debug-command", "yes"]),
                                ("ours", ours_bin, ["--enable-debug-command", "yes"])):
        server = Server(binary, name, extra)
        try:
            base = int(server.info_field("memory", "used_memory_rss"))
            server.cli("DEBUG", "POPULATE", str(keys))
            got = int(server.cli("DBSIZE").strip())
            if got != keys:
                raise SystemExit(f"{name}: DEBUG POPULATE made {got} keys, expected {keys}")
            rss[name] = (base, int(server.info_field("memory", "used_memory_rss")))
        finally:
            server.stop()
    return rss


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    parser.add_argument("--rounds", type=int, default=3, help="runs per test and server (median kept)")
    args = parser.parse_args()
    requests, clients, keys = (200000, 50, 1000000) if not args.quick else (5000, 10, 20000)
    rounds = args.rounds if not args.quick else 1
    ours_bin = build_ours()
    print(f"# redis-benchmark -c {clients} -n {requests}, tests {','.join(TESTS)}; median of {rounds} alternating runs")
    print(f"{'pipeline':>8} {'test':<36} {'redis rps':>12} {'ours rps':>12} {'ratio':>7}")
    worst = None
    for pipeline, test, redis_rps, ours_rps in throughput(ours_bin, args.redis_server, requests, clients, rounds):
        ratio = ours_rps / redis_rps if redis_rps else 0.0
        worst = ratio if worst is None else min(worst, ratio)
        print(f"{pipeline:>8} {test:<36} {redis_rps:>12.0f} {ours_rps:>12.0f} {ratio:>7.2f}")
    print(f"# lowest throughput ratio: {worst:.2f}")
    rss = memory(ours_bin, args.redis_server, keys)
    r_base, r_full = rss["redis"]
    o_base, o_full = rss["ours"]
    print(f"# used_memory_rss with {keys} keys from DEBUG POPULATE (empty server in brackets)")
    print(f"redis {r_full / 2**20:.1f} MiB ({r_base / 2**20:.1f}), ours {o_full / 2**20:.1f} MiB ({o_base / 2**20:.1f}), "
          f"ratio {o_full / r_full:.2f}")
    # SAVE / load times and GET/SET p99 during BGSAVE, on a mixed dataset.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import persistence
    persistence.bench(ours_bin, args.redis_server, args.quick)
    # Replication: full sync time, lag under load, throughput with replicas.
    repl = [sys.executable, os.path.join(ROOT, "bench", "replication.py"), "--ours", ours_bin,
            "--redis-server", args.redis_server]
    subprocess.run(repl + (["--quick"] if args.quick else []), check=True)
    # Sentinel: failover time and lost writes, ours vs redis-sentinel.
    sentinel = [sys.executable, os.path.join(ROOT, "bench", "sentinel.py"), "--ours", ours_bin]
    subprocess.run(sentinel + (["--quick"] if args.quick else []), check=True)


if __name__ == "__main__":
    sys.exit(main())
