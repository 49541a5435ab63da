#!/usr/bin/env python3
"""evildns.py: a deliberately malicious DNS server for the hardening tests (stdlib only).

    evildns.py ADDR PORT LOGFILE

Serves UDP and TCP on ADDR:PORT (run it in the test world netns only) and appends one line
per query to LOGFILE: "<udp|tcp> <qname> <qtype>". The first label of the question picks
the trick (the rest of the name is normally an allowed name, e.g. meta.allowed.test):

  offchain   A 198.18.0.10 for the name, plus records off the CNAME chain: evil.test A
             198.18.0.30 and a CNAME from another name
  meta       A 169.254.169.254, 127.0.0.1, 0.0.0.0, 224.0.0.251 and 198.18.0.10
  meta6      AAAA ::1, fe80::1, ::ffff:169.254.169.254, fd00:cf::10
  ttl0       A 198.18.0.20 with TTL 0
  huge       UDP: TC bit and no records; TCP: 200 A records (198.18.1.1..200), first 198.18.0.10
  hugeudp    a 3000-byte UDP answer (200 A records) without TC
  garbage    random bytes after a matching id
  short      the header and half the question
  badid      a correct answer with another id
  badq       an answer for another question (evil.test A 198.18.0.30)
  slow       the right answer after 5 s
  cname      CNAME target.evil.test, and target.evil.test A 198.18.0.30 (a chain off the
             allowed name: followed by design)
  fill       fill.K.<allowed name>: 200 A records 10.K.0.1..200 (K 0..255), to exhaust the allow map
  anything else: A 198.18.0.10 / AAAA fd00:cf::10, TXT "evil-txt", TTL 60
"""
import os
import socket
import struct
import sys
import threading
import time

ADDR, PORT, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()


def log(line):
    with lock, open(LOG, "a") as f:
        f.write(line + "\n")


def parse_question(msg):
    """(labels, qtype, end offset of the question) of the first question."""
    off, labels = 12, []
    while off < len(msg):
        n = msg[off]
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n].decode("latin-1"))
        off += n
    qtype = struct.unpack("!H", msg[off:off + 2])[0] if off + 2 <= len(msg) else 0
    return labels, qtype, off + 4


def encode_name(name):
    out = b""
    for label in name.strip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def rr(name, rtype, ttl, rdata):
    owner = b"\xc0\x0c" if name is None else encode_name(name)
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def a(ip):
    return socket.inet_pton(socket.AF_INET, ip)


def aaaa(ip):
    return socket.inet_pton(socket.AF_INET6, ip)


def header(qid, ancount, flags=0x8180):
    return struct.pack("!HHHHHH", qid, flags, 1, ancount, 0, 0)


def answer(msg, proto):
    qid = struct.unpack("!H", msg[:2])[0]
    labels, qtype, qend = parse_question(msg)
    question = msg[12:qend]
    trick = labels[0].lower() if labels else ""
    log(f"{proto} {'.'.join(labels)} {qtype}")
    ok = lambda recs, flags=0x8180: header(qid, len(recs), flags) + question + b"".join(recs)
    if trick == "offchain":
        return ok([rr(None, 1, 60, a("198.18.0.10")), rr("evil.test", 1, 60, a("198.18.0.30")),
                   rr("x.github.com", 5, 60, encode_name("allowed.test"))])
    if trick == "meta":
        return ok([rr(None, 1, 60, a(ip)) for ip in
                   ("169.254.169.254", "127.0.0.1", "0.0.0.0", "224.0.0.251", "198.18.0.10")])
    if trick == "meta6":
        return ok([rr(None, 28, 60, aaaa(ip)) for ip in
                   ("::1", "fe80::1", "::ffff:169.254.169.254", "fd00:cf::10")])
    if trick == "ttl0":
        return ok([rr(None, 1, 0, a("198.18.0.20"))])
    if trick == "huge":
        if proto == "udp":
            return ok([], 0x8380)  # TC
        recs = [rr(None, 1, 60, a("198.18.0.10"))] + [rr(None, 1, 60, a(f"198.18.1.{i}")) for i in range(1, 200)]
        return ok(recs)
    if trick == "hugeudp":
        return ok([rr(None, 1, 60, a(f"198.18.1.{i}")) for i in range(1, 201)])
    if trick == "garbage":
        return msg[:2] + os.urandom(300)
    if trick == "short":
        return header(qid, 1) + question[: len(question) // 2]
    if trick == "badid":
        return ok([rr(None, 1, 60, a("198.18.0.30"))]).replace(msg[:2], struct.pack("!H", qid ^ 0x5555), 1)
    if trick == "badq":
        q = encode_name("evil.test") + struct.pack("!HH", 1, 1)
        return header(qid, 1) + q + rr("evil.test", 1, 60, a("198.18.0.30"))
    if trick == "slow":
        time.sleep(5)
        return ok([rr(None, 1, 60, a("198.18.0.10"))])
    if trick == "cname":
        return ok([rr(None, 5, 60, encode_name("target.evil.test")), rr("target.evil.test", 1, 60, a("198.18.0.30"))])
    if trick == "fill" and len(labels) > 1 and labels[1].isdigit() and int(labels[1]) < 256:
        k = int(labels[1])
        return ok([rr(None, 1, 600, a(f"10.{k}.0.{i}")) for i in range(1, 201)])
    if qtype == 1:
        return ok([rr(None, 1, 60, a("198.18.0.10"))])
    if qtype == 28:
        return ok([rr(None, 28, 60, aaaa("fd00:cf::10"))])
    if qtype == 16:
        return ok([rr(None, 16, 60, b"\x08evil-txt")])
    return ok([])


def serve_udp():
    s = socket.socket(socket.AF_INET6 if ":" in ADDR else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ADDR, PORT))
    while True:
        msg, peer = s.recvfrom(65535)
        if len(msg) < 12:
            continue

        def reply(msg=msg, peer=peer):
            try:
                s.sendto(answer(msg, "udp"), peer)
            except Exception as e:  # noqa: BLE001 - a test server: log and go on
                log(f"error {e}")

        threading.Thread(target=reply, daemon=True).start()


def serve_tcp():
    s = socket.socket(socket.AF_INET6 if ":" in ADDR else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ADDR, PORT))
    s.listen(64)
    while True:
        conn, _ = s.accept()

        def handle(conn=conn):
            try:
                conn.settimeout(10)
                n = struct.unpack("!H", conn.recv(2, socket.MSG_WAITALL))[0]
                msg = conn.recv(n, socket.MSG_WAITALL)
                out = answer(msg, "tcp")
                conn.sendall(struct.pack("!H", len(out)) + out)
            except Exception as e:  # noqa: BLE001
                log(f"error {e}")
            finally:
                conn.close()

        threading.Thread(target=handle, daemon=True).start()


threading.Thread(target=serve_tcp, daemon=True).start()
log("ready")
serve_udp()
