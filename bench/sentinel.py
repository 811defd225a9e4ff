#!/usr/bin/env python3
"""Failover time of our sentinels compared with real redis-sentinel, in the
same run and with the same settings (down-after-milliseconds 1000,
failover-timeout 5000), over Debian redis-server data nodes (1 master,
2 replicas) and 3 sentinels.

    python3 bench/sentinel.py            # 10 failovers per implementation
    python3 bench/sentinel.py --quick    # 2 failovers each (about a minute)

For each failover a client writes continuously to the master it finds
through the sentinels (SENTINEL GET-MASTER-ADDR-BY-NAME, rediscovering on
any error or -READONLY). The master is killed with SIGKILL; the figure is
the time from the kill to the first write acknowledged by the new master.
Afterwards every acknowledged key is looked up on the new master: keys
acknowledged by the old master but missing are "lost writes" (replication
is asynchronous, so a few can be lost with either implementation). The
killed node is restarted as a replica of the new master before the next
round.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "mymaster"
DOWN_AFTER = 1000
FAILOVER_TIMEOUT = 5000


def client(port, timeout):
    """A redis-py client that fails at once instead of retrying with
    back-off (redis-py's default), so the measurement is the failover's."""
    return redis.Redis(port=port, socket_timeout=timeout, socket_connect_timeout=timeout,
                       retry=Retry(NoBackoff(), 0))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(cond, limit, what):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            if cond():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


class Proc:
    def __init__(self, args, port, workdir, name):
        self.args, self.port, self.name = args, port, name
        self.log = open(os.path.join(workdir, f"{name}.log"), "a")
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        wait(lambda: redis.Redis(port=self.port, socket_timeout=0.5).ping(), 20, f"{self.name} to start")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def data_node(workdir, port, replicaof=None):
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", workdir, "--dbfilename", f"{port}.rdb", "--repl-diskless-sync-delay", "0"]
    if replicaof:
        args += ["--replicaof", "127.0.0.1", str(replicaof)]
    return Proc(args, port, workdir, f"redis-{port}")


def sentinel(binary, workdir, port, master_port):
    conf = os.path.join(workdir, f"sentinel-{port}.conf")
    with open(conf, "w") as f:
        f.write(f"port {port}\nbind 127.0.0.1\nsentinel monitor {NAME} 127.0.0.1 {master_port} 2\n"
                f"sentinel down-after-milliseconds {NAME} {DOWN_AFTER}\n"
                f"sentinel failover-timeout {NAME} {FAILOVER_TIMEOUT}\n")
    args = [binary, conf] if os.path.basename(binary) == "redis-sentinel" else [binary, "--sentinel", conf]
    return Proc(args, port, workdir, f"sentinel-{port}")


class Writer(threading.Thread):
    """Writes SET k<n> n to the master found through the sentinels."""

    def __init__(self, sentinel_ports):
        super().__init__(daemon=True)
        self.sentinels = sentinel_ports
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = []  # (time, port, key)
        self.n = 0

    def discover(self):
        for p in self.sentinels:
            try:
                addr = client(p, 0.2).execute_command(
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", NAME)
                if addr:
                    return int(addr[1])
            except (redis.RedisError, OSError):
                continue
        return None

    def run(self):
        conn, port = None, None
        while not self.stop.is_set():
            if conn is None:
                port = self.discover()
                if port is None:
                    time.sleep(0.01)
                    continue
                conn = client(port, 0.2)
            self.n += 1
            key = f"k{self.n}"
            try:
                conn.set(key, self.n)
                with self.lock:
                    self.acked.append((time.time(), port, key))
            except (redis.RedisError, OSError):
                conn = None
                time.sleep(0.005)

    def first_ack_after(self, t0, new_port):
        with self.lock:
            for t, port, _ in self.acked:
                if t > t0 and port == new_port:
                    return t
        return None

    def acked_elsewhere(self, t0, old_port):
        with self.lock:
            return any(t > t0 and port != old_port for t, port, _ in self.acked)


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def record(r):
    """A SENTINEL record as a dict of strings (redis-py may parse it already)."""
    if isinstance(r, dict):
        return {text(k): text(v) for k, v in r.items()}
    return {text(k): text(v) for k, v in zip(r[::2], r[1::2])}


def sentinel_cmd(port, *args):
    return redis.Redis(port=port, socket_timeout=0.5).execute_command("SENTINEL", *args)


def sentinels_agree(ports, old_port):
    seen = set()
    for p in ports:
        fields = record(sentinel_cmd(p, "MASTER", NAME))
        if "failover_in_progress" in fields["flags"]:
            return None
        seen.add(int(fields["port"]))
    if len(seen) == 1 and old_port not in seen:
        return seen.pop()
    return None


def run_flavor(label, binary, failovers):
    workdir = tempfile.mkdtemp(prefix=f"bench-sentinel-{label}-")
    ports = [free_port() for _ in range(3)]
    nodes = {ports[0]: data_node(workdir, ports[0])}
    for p in ports[1:]:
        nodes[p] = data_node(workdir, p, replicaof=ports[0])
    sports = [free_port() for _ in range(3)]
    sentinels = [sentinel(binary, workdir, p, ports[0]) for p in sports]
    times, lost_total = [], 0
    try:
        def group_ready():
            for p in sports:
                f = record(sentinel_cmd(p, "MASTER", NAME))
                if int(f["num-other-sentinels"]) != 2 or int(f["num-slaves"]) < 2:
                    return False
                for r in sentinel_cmd(p, "REPLICAS", NAME):
                    rf = record(r)
                    if rf["flags"] != "slave" or rf["master-link-status"] != "ok":
                        return False
            return True

        wait(group_ready, 90, f"{label} sentinels to discover the group")
        master = ports[0]
        for i in range(failovers):
            # Kill the master all sentinels agree on, once the writer is
            # writing to it.
            current = None

            def settled():
                nonlocal current
                current = sentinels_agree(sports, -1)
                return current is not None

            wait(settled, 60, f"{label} sentinels to agree before the kill")
            master = current
            writer = Writer(sports)
            writer.start()
            wait(lambda: sum(1 for _, p, _ in list(writer.acked) if p == master) > 50, 30, "writes before the kill")
            t0 = time.time()
            print(f"  kill at {time.strftime('%H:%M:%S', time.localtime(t0))}.{int(t0 * 1000) % 1000:03d}", flush=True) if os.environ.get("BENCH_KEEP") else None
            nodes[master].kill()
            wait(lambda: writer.acked_elsewhere(t0, master), 60, f"{label} failover {i + 1}")
            new = None

            def agreed():
                nonlocal new
                new = sentinels_agree(sports, master)
                return new is not None

            wait(agreed, 60, f"{label} sentinels to agree")
            # The first write acknowledged by the master the sentinels agree on.
            wait(lambda: writer.first_ack_after(t0, new) is not None, 30, f"{label} writes on the new master")
            elapsed = writer.first_ack_after(t0, new) - t0
            time.sleep(0.3)
            writer.stop.set()
            writer.join()
            r = redis.Redis(port=new, socket_timeout=2)
            with writer.lock:
                keys = [k for _, _, k in writer.acked]
            lost = 0
            for j in range(0, len(keys), 500):
                chunk = keys[j:j + 500]
                lost += sum(1 for v in r.mget(chunk) if v is None)
            lost_total += lost
            times.append(elapsed)
            print(f"  {label:<6} failover {i + 1:>2}: {elapsed * 1000:7.0f} ms to the first write on the new master, "
                  f"{lost} of {len(keys)} acknowledged writes lost", flush=True)
            # The killed node comes back as a replica of the new master (as a
            # supervisor would restart it; conversion by the sentinels is
            # covered by the tests) so the next round has two replicas.
            old = master
            nodes[old].args = [a for a in nodes[old].args]
            if "--replicaof" in nodes[old].args:
                i = nodes[old].args.index("--replicaof")
                del nodes[old].args[i:i + 3]
            nodes[old].args += ["--replicaof", "127.0.0.1", str(new)]
            nodes[old].start()
            wait(group_ready, 90, f"{label} group to settle")
            master = new
    finally:
        for s in sentinels:
            s.kill()
        for n in nodes.values():
            n.kill()
    if os.environ.get("BENCH_KEEP"):
        print(f"  logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return times, lost_total


def build_ours():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "redis-ha-node"], cwd=ROOT, check=True)
    return os.path.join(ROOT, "target", "release", "redis-ha-node")


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def run(quick, ours_bin=None, redis_sentinel=None):
    failovers = 2 if quick else 10
    ours_bin = ours_bin or build_ours()
    redis_sentinel = redis_sentinel or shutil.which("redis-sentinel") or "redis-sentinel"
    print(f"# sentinel failover: 1 master + 2 replicas (redis-server), 3 sentinels, quorum 2, "
          f"down-after {DOWN_AFTER} ms, failover-timeout {FAILOVER_TIMEOUT} ms, {failovers} failovers each")
    results = {}
    only = os.environ.get("BENCH_ONLY")
    for label, binary in (("redis", redis_sentinel), ("ours", ours_bin)):
        if only and only != label:
            continue
        results[label] = run_flavor(label, binary, failovers)
    print(f"{'sentinel':>8} {'median ms':>10} {'max ms':>8} {'lost writes':>12}")
    for label, (times, lost) in results.items():
        print(f"{label:>8} {median(times) * 1000:>10.0f} {max(times) * 1000:>8.0f} {lost:>12}")
    if len(results) < 2:
        return
    r, o = median(results["redis"][0]), median(results["ours"][0])
    print(f"# failover median, ours / redis: {o / r if r else 0:.2f}")


def main():
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 failovers per implementation")
    parser.add_argument("--ours", help="path of redis-ha-node (default: cargo build --release)")
    args = parser.parse_args()
    run(args.quick, args.ours)


if __name__ == "__main__":
    sys.exit(main())
