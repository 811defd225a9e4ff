#!/usr/bin/env python3
"""Regenerates command_meta.tsv from a running Redis 7.0 server.

COMMAND INFO and COMMAND DOCS of this server take name, arity, flags, key
positions, group, summary and since from the command table; the rest of the
interface description Redis publishes (ACL categories, tips, key
specifications, complexity, history, doc flags) comes from this file, one
line per command or `container|subcommand`:

  name  since  group  movablekeys  categories  tips  keyspecs  complexity
  doc_flags  deprecated_since  replaced_by  history  arity  flags
  first,last,step  summary  arguments

The last four repeat what the command table holds; a unit test checks
that the table agrees with Redis.

Lists are comma-separated. A key spec is `FLAGS BEGIN FIND[ #notes]`, specs
separated by ';': BEGIN is `index=N`, `keyword=WORD,startfrom` or `unknown`,
FIND is `range=lastkey,step,limit`, `keynum=idx,firstkey,step` or `unknown`.
History entries are `version::text`, separated by ' ~~ '. Arguments (of
COMMAND DOCS) are `[(key=value;...),(...)]` in Redis's field order, with
nested `arguments=[...]`; flags are comma-separated and '%', '(', ')',
';', '=', ',', '[', ']' in values are %-escaped.

Usage: redis-server --port 7001 --save "" --daemonize yes
       python3 gen_command_meta.py 7001 > command_meta.tsv
"""
import socket
import sys


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()

    def _fill(self, pred):
        while not pred():
            d = self.s.recv(1 << 16)
            if not d:
                raise EOFError
            self.buf += d

    def _line(self):
        self._fill(lambda: b"\r\n" in self.buf)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        self._fill(lambda: len(self.buf) >= n + 2)
        d, self.buf = self.buf[:n], self.buf[n + 2:]
        return d

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+", b"$", b"="):
            s = rest if t == b"+" else self._take(int(rest))
            return s.decode()[4:] if t == b"=" else s.decode()
        if t == b":":
            return int(rest)
        if t in (b"*", b"~"):
            return [self.read() for _ in range(int(rest))]
        if t == b"%":
            return {self.read(): self.read() for _ in range(int(rest))}
        if t == b"_":
            return None
        if t == b"-":
            raise RuntimeError(rest.decode())
        raise ValueError(line)


def clean(text):
    for bad in ("\t", "\n"):
        assert bad not in text, text
    return text


def keyspec(spec):
    flags = ",".join(spec["flags"])
    b = spec["begin_search"]
    if b["type"] == "index":
        begin = "index=%d" % b["spec"]["index"]
    elif b["type"] == "keyword":
        begin = "keyword=%s,%d" % (b["spec"]["keyword"], b["spec"]["startfrom"])
    else:
        begin = "unknown"
    f = spec["find_keys"]
    if f["type"] == "range":
        s = f["spec"]
        find = "range=%d,%d,%d" % (s["lastkey"], s["keystep"], s["limit"])
    elif f["type"] == "keynum":
        s = f["spec"]
        find = "keynum=%d,%d,%d" % (s["keynumidx"], s["firstkey"], s["keystep"])
    else:
        find = "unknown"
    out = "%s %s %s" % (flags, begin, find)
    if "notes" in spec:
        assert ";" not in spec["notes"]
        out += " #" + spec["notes"]
    return out


def esc(v):
    out = []
    for ch in str(v):
        if ch in "%();=,[]\t\n":
            out.append("%%%02X" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def args_text(args):
    parts = []
    for a in args:
        fields = []
        for k, v in a.items():
            if k == "arguments":
                fields.append("arguments=" + args_text(v))
            elif k == "flags":
                fields.append("flags=" + ",".join(esc(f) for f in v))
            else:
                fields.append("%s=%s" % (k, esc(v)))
        parts.append("(" + ";".join(fields) + ")")
    return "[" + ",".join(parts) + "]"


def line(info, doc):
    cats = ",".join(c.lstrip("@") for c in info[6])
    tips = ",".join(info[7])
    specs = ";".join(keyspec(s) for s in info[8])
    history = " ~~ ".join("%s::%s" % (v, t) for v, t in doc.get("history", []))
    assert "~~" not in "".join(t for _, t in doc.get("history", []))
    fields = [
        info[0], doc.get("since", ""), doc.get("group", ""),
        "1" if "movablekeys" in info[2] else "0", cats, tips, specs,
        doc.get("complexity", ""), ",".join(doc.get("doc_flags", [])),
        doc.get("deprecated_since", ""), doc.get("replaced_by", ""), history,
        info[1], ",".join(f for f in info[2] if f != "movablekeys"),
        "%d,%d,%d" % (info[3], info[4], info[5]), doc.get("summary", ""),
        args_text(doc["arguments"]) if "arguments" in doc else "",
    ]
    return "\t".join(clean(str(f)) for f in fields)


def main():
    c = Conn(int(sys.argv[1]))
    c.cmd("HELLO", "3")
    infos = c.cmd("COMMAND")
    docs = c.cmd("COMMAND", "DOCS")
    rows = []
    for info in infos:
        doc = docs[info[0]]
        rows.append(line(info, doc))
        subdocs = doc.get("subcommands", {})
        for sub in info[9]:
            rows.append(line(sub, subdocs.get(sub[0], {})))
    for r in sorted(rows):
        print(r)


main()
