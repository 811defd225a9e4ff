"""redis-py against redis-ha-node, in RESP2 and RESP3.

Usage: python3 client_compat.py <port>. Exits non-zero with a message on
the first mismatch.
"""
import sys

import redis


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def exercise(port, protocol):
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol, decode_responses=True)
    check(r.ping() is True, f"PING (resp{protocol})")
    r.flushall()
    check(r.set("greeting", "hello", ex=100) is True, "SET EX")
    check(r.get("greeting") == "hello", "GET")
    check(0 < r.ttl("greeting") <= 100, "TTL")
    check(r.incrby("counter", 5) == 5, "INCRBY")
    check(r.incrbyfloat("f", 1.5) == 1.5, "INCRBYFLOAT")
    r.rpush("list", "a", "b", "c")
    check(r.lrange("list", 0, -1) == ["a", "b", "c"], "LRANGE")
    r.hset("hash", mapping={"f1": "v1", "f2": "v2"})
    check(r.hgetall("hash") == {"f1": "v1", "f2": "v2"}, "HGETALL")
    r.sadd("set", "x", "y")
    check(r.smembers("set") == {"x", "y"}, "SMEMBERS")
    r.zadd("zset", {"m1": 1.5, "m2": 2})
    # redis-py gives tuples in RESP2 and lists in RESP3 (as with real Redis).
    pairs = [tuple(p) for p in r.zrange("zset", 0, -1, withscores=True)]
    check(pairs == [("m1", 1.5), ("m2", 2.0)], "ZRANGE WITHSCORES")
    check(r.zscore("zset", "m1") == 1.5, "ZSCORE")
    pipe = r.pipeline(transaction=True)
    pipe.set("a", "1").incr("a").get("a")
    check(pipe.execute() == [True, 2, "2"], "MULTI/EXEC pipeline")
    try:
        r.lpush("greeting", "x")
        check(False, "WRONGTYPE expected")
    except redis.ResponseError as e:
        check(str(e).startswith("WRONGTYPE"), "WRONGTYPE text")
    p = r.pubsub()
    p.subscribe("chan")
    msg = p.get_message(timeout=2)
    check(msg is not None and msg["type"] == "subscribe", "subscribe confirmation")
    check(r.publish("chan", "payload") == 1, "PUBLISH receivers")
    msg = p.get_message(timeout=2)
    check(msg is not None and msg["data"] == "payload", "message delivery")
    p.close()
    info = r.info("server")
    check(info["redis_version"] == "7.0.15", "INFO server redis_version")
    r.close()


def main():
    port = int(sys.argv[1])
    exercise(port, 2)
    exercise(port, 3)
    print("redis-py ok")


if __name__ == "__main__":
    main()
